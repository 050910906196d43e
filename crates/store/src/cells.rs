//! Stored compute cells (code with a share link) and the files their runs wrote.

use crate::error::Result;
use crate::types::StoredBlob;
use async_trait::async_trait;
use switchboard_core::{AccountId, Timestamp, UserId};
use uuid::Uuid;

/// A stored cell: code someone ran, readable by anyone who knows its id or permalink.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub id: Uuid,
    /// Short random name for share links; unique.
    pub permalink: String,
    pub account_id: AccountId,
    /// The user who stored it.
    pub owner: UserId,
    /// The kernelspec it runs on.
    pub kernel: String,
    pub code: String,
    pub created_at: Timestamp,
}

/// A file a cell's run wrote, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct CellFile {
    pub name: String,
    pub size: u64,
    /// When it was last stored (a later run may replace it).
    pub updated_at: Timestamp,
}

/// Cell storage, part of every [`crate::Store`].
///
/// Guarantees: a cell's id and permalink are each unique (`Conflict` otherwise); a file is
/// identified by its cell and name, and storing it again replaces it; `put_cell_file` checks
/// the cell's file count and writes in one transaction; deleting a cell's account deletes
/// the cell and its files.
#[async_trait]
pub trait CellStore: Send + Sync {
    /// Stores a new cell. `Conflict` if its id or permalink is taken; `NotFound` if its
    /// account does not exist.
    async fn create_cell(&self, cell: &Cell) -> Result<()>;

    /// The cell with this id.
    async fn cell(&self, id: Uuid) -> Result<Cell>;

    /// The cell with this permalink (case-sensitive).
    async fn cell_by_permalink(&self, permalink: &str) -> Result<Cell>;

    /// Stores (or replaces) a file of a cell: `content` as stored (sealed, or plain) and
    /// `size`, the size of the file itself. `Conflict` if the name is new and the cell
    /// already has `max_files` files; `NotFound` if there is no such cell.
    async fn put_cell_file(
        &self,
        cell: Uuid,
        name: &str,
        content: &StoredBlob,
        size: u64,
        at: Timestamp,
        max_files: u32,
    ) -> Result<CellFile>;

    /// A cell's files, by name. Empty for an unknown cell.
    async fn cell_files(&self, cell: Uuid) -> Result<Vec<CellFile>>;

    /// One file of a cell with its content as stored.
    async fn cell_file(&self, cell: Uuid, name: &str) -> Result<(CellFile, StoredBlob)>;
}
