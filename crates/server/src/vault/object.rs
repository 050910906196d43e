//! What a sealed blob belongs to: the record its associated data names.

use switchboard_core::AccountId;
use uuid::Uuid;

/// What a sealed blob belongs to: its associated data, and the name it is counted and
/// logged under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    /// A snapshot's picture.
    Snapshot(Uuid),
    /// A snapshot's 16x16 signature.
    Signature(Uuid),
    /// A file of a cell.
    CellFile { cell: Uuid, name: &'a str },
    /// A taught object's template.
    TaughtTemplate(Uuid),
}

impl Object<'_> {
    /// The object's kind as metrics label it: a closed set.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Snapshot(_) | Object::Signature(_) => "snapshot",
            Object::CellFile { .. } => "cell_file",
            Object::TaughtTemplate(_) => "taught_object",
        }
    }

    /// The record a blob is bound to, unambiguous (each field length-prefixed).
    pub fn record(&self, account: AccountId) -> Vec<u8> {
        let (tag, id, name) = match self {
            Object::Snapshot(id) => ("snapshot", *id, ""),
            Object::Signature(id) => ("snapshot-signature", *id, ""),
            Object::CellFile { cell, name } => ("cell-file", *cell, *name),
            Object::TaughtTemplate(id) => ("taught-template", *id, ""),
        };
        let mut record = Vec::with_capacity(96 + name.len());
        for field in [
            tag.as_bytes(),
            account.to_string().as_bytes(),
            id.to_string().as_bytes(),
            name.as_bytes(),
        ] {
            record.extend_from_slice(&(field.len() as u32).to_be_bytes());
            record.extend_from_slice(field);
        }
        record
    }
}

impl std::fmt::Display for Object<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Snapshot(id) => write!(f, "snapshot {id}"),
            Object::Signature(id) => write!(f, "signature of snapshot {id}"),
            Object::CellFile { cell, name } => write!(f, "file {name:?} of cell {cell}"),
            Object::TaughtTemplate(id) => write!(f, "template of taught object {id}"),
        }
    }
}
