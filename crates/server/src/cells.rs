//! Stored compute cells: code with an unguessable share link, run on a kernel handed out for
//! it, and the files its runs write.
//!
//! A kernel handed out for a cell carries a [`CellLink`] (`crate::cell_link`). After each
//! execution on it (its
//! final `idle` status, whichever client sent the request; the kernel wrote its files by
//! then) the node collects the regular files in the kernel's working folder that are new or changed
//! since the last collection, stores them in the database (so every node can serve them)
//! and publishes into the kernel's message stream, just before that execution's idle status
//! (the kernel holds it meanwhile), a notice for files over a limit and a `display_data`
//! listing the files stored.

use crate::cell_link::{CellLink, FileStamp};
use crate::config::Config;
use crate::kernels::KernelEntry;
use crate::protocol::compute::CellFileView;
use crate::services::compute::ComputeError;
use crate::vault::{Object, Vault};
use base64::Engine;
use rand::RngCore;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchboard_core::{AccountId, UserId};
use switchboard_kernel::{AfterRun, Channel, WireMessage};
use switchboard_store::{Cell, CellFile, Store, StoreError};
use uuid::Uuid;

/// MIME type of the machine-readable file list in the files `display_data`.
pub const FILES_MIME: &str = "application/vnd.switchboard.files+json";

/// The `notice` kind of the stream message naming files that were not stored.
pub const FILE_LIMIT_NOTICE: &str = "file_limit";

/// Random bytes in a permalink: 8 bytes are 11 URL-safe base64 characters (64 bits, too
/// many to guess).
const PERMALINK_BYTES: usize = 8;

/// The limits cells run under (from [`Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellLimits {
    /// Largest `code` of a cell, in bytes.
    pub max_code_bytes: usize,
    /// Largest file stored from a run.
    pub file_max_bytes: u64,
    /// Most files stored per cell.
    pub files_max: u32,
}

impl CellLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> CellLimits {
        CellLimits {
            max_code_bytes: usize::try_from(config.kernels.max_cell_code_bytes.as_u64())
                .unwrap_or(usize::MAX),
            file_max_bytes: config.kernels.cell_file_max_bytes.as_u64(),
            files_max: config.kernels.cell_files_max,
        }
    }

    /// Checks a cell's code: `EmptyCode` when empty, `CodeTooLarge` past the limit.
    pub fn check_code(&self, code: &str) -> Result<(), ComputeError> {
        if code.trim().is_empty() {
            return Err(ComputeError::EmptyCode);
        }
        self.check_code_size(code)
    }

    /// Checks only the size of a cell's code: `CodeTooLarge` past the limit.
    pub fn check_code_size(&self, code: &str) -> Result<(), ComputeError> {
        if code.len() > self.max_code_bytes {
            return Err(ComputeError::CodeTooLarge {
                size: code.len(),
                limit: self.max_code_bytes,
            });
        }
        Ok(())
    }
}

/// A new random permalink: 11 characters of `A-Z a-z 0-9 - _`.
pub fn new_permalink() -> String {
    let mut bytes = [0u8; PERMALINK_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` has a permalink's shape (10 to 12 URL-safe characters). Checked before
/// any lookup, so odd path parameters never reach the database.
pub fn is_permalink(text: &str) -> bool {
    (10..=12).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The cell a path parameter names: its id (a UUID) or its permalink.
pub async fn find_cell(store: &dyn Store, id_or_permalink: &str) -> Result<Cell, ComputeError> {
    let found = if let Ok(id) = Uuid::parse_str(id_or_permalink) {
        store.cell(id).await
    } else if is_permalink(id_or_permalink) {
        store.cell_by_permalink(id_or_permalink).await
    } else {
        return Err(ComputeError::CellNotFound);
    };
    match found {
        Ok(cell) => Ok(cell),
        Err(StoreError::NotFound) => Err(ComputeError::CellNotFound),
        Err(e) => Err(e.into()),
    }
}

/// Whether `name` may be a stored file's name: what collection accepts, so a file path
/// parameter that is anything else is 404 without a lookup.
pub fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// The cell's share link path.
pub fn cell_url(cell: &Cell) -> String {
    format!("/c/{}", cell.permalink)
}

/// Where a stored file is served.
pub fn file_url(cell: Uuid, name: &str) -> String {
    format!("/api/v1/cells/{cell}/files/{}", encode_path_segment(name))
}

/// A file as the API lists it.
pub fn file_view(cell: Uuid, file: &CellFile) -> CellFileView {
    CellFileView {
        name: file.name.clone(),
        size: file.size,
        url: file_url(cell, &file.name),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A size as people read it: `512 B`, `12.3 kB`, `4.2 MB` (decimal units).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", b / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} GB", b / 1e9)
    }
}

/// Stores a new cell for `owner`, retrying once on the (unlikely) permalink collision.
pub async fn store_cell(
    store: &dyn Store,
    id: Uuid,
    owner: UserId,
    account: AccountId,
    kernel: &str,
    code: &str,
) -> Result<Cell, ComputeError> {
    let mut cell = Cell {
        id,
        permalink: new_permalink(),
        account_id: account,
        owner,
        kernel: kernel.to_owned(),
        code: code.to_owned(),
        created_at: chrono::Utc::now(),
    };
    match store.create_cell(&cell).await {
        Err(StoreError::Conflict(_)) => {
            cell.permalink = new_permalink();
            store.create_cell(&cell).await?;
        }
        other => other?,
    }
    // What a later read returns (milliseconds), so the two answers agree.
    Ok(store.cell(id).await?)
}

/// What one collection did.
#[derive(Debug, Default)]
pub struct Collected {
    /// Files stored (new or changed), by name.
    pub stored: Vec<CellFile>,
    /// Files not stored, each with why (`"big.bin (12.0 MB): larger than …"`).
    pub refused: Vec<String>,
}

/// A file found in the working folder that is new or changed.
#[derive(Debug)]
struct Found {
    name: String,
    stamp: FileStamp,
    /// The content, or why it cannot be stored.
    content: Result<Vec<u8>, String>,
}

/// Collects the files of `home` that are new or changed since `link`'s last collection and
/// stores them under its cell, within `limits`. Collections of one cell take turns: this
/// holds the cell's turn throughout.
pub async fn collect(
    store: &dyn Store,
    vault: &Vault,
    account: AccountId,
    link: &CellLink,
    home: PathBuf,
    limits: CellLimits,
) -> Collected {
    let mut collected = link.collection_turn().await;
    let known = collected.clone();
    let scanned = tokio::task::spawn_blocking(move || scan(&home, &known, limits.file_max_bytes))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "scanning a kernel's files failed");
            Ok(Vec::new())
        });
    let found = match scanned {
        Ok(found) => found,
        Err(e) => {
            // A kernel whose folder is gone has nothing left to collect.
            tracing::debug!(cell = %link.id, error = %e, "cannot read the kernel's folder");
            return Collected::default();
        }
    };
    let mut out = Collected::default();
    for file in found {
        let content = match file.content {
            Ok(content) => content,
            Err(why) => {
                out.refused.push(format!("{}: {why}", file.name));
                collected.insert(file.name, file.stamp);
                continue;
            }
        };
        let at = chrono::Utc::now();
        let object = Object::CellFile {
            cell: link.id,
            name: &file.name,
        };
        let sealed = match vault.seal(account, object, &content).await {
            Ok(sealed) => sealed,
            Err(e) => {
                // Not remembered: the next collection tries again.
                tracing::warn!(cell = %link.id, file = %file.name, error = %e, "cannot seal a cell file");
                out.refused
                    .push(format!("{}: could not be stored; try again", file.name));
                continue;
            }
        };
        let size = content.len() as u64;
        match store
            .put_cell_file(link.id, &file.name, &sealed, size, at, limits.files_max)
            .await
        {
            Ok(stored) => {
                collected.insert(file.name, file.stamp);
                out.stored.push(stored);
            }
            Err(StoreError::Conflict(_)) => {
                out.refused.push(format!(
                    "{} ({}): the cell already has {} files, the most it may",
                    file.name,
                    human_size(file.stamp.size),
                    limits.files_max
                ));
                collected.insert(file.name, file.stamp);
            }
            Err(e) => {
                // Not remembered: the next collection tries again.
                tracing::warn!(cell = %link.id, file = %file.name, error = %e, "cannot store a cell file");
                out.refused
                    .push(format!("{}: could not be stored; try again", file.name));
            }
        }
    }
    out
}

/// Lists the regular files directly in `home` (no dotfiles, no symlinks followed) that differ
/// from `known`, reading those within `max_bytes`.
fn scan(
    home: &Path,
    known: &HashMap<String, FileStamp>,
    max_bytes: u64,
) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for dirent in std::fs::read_dir(home)? {
        let Ok(dirent) = dirent else { continue };
        let Ok(name) = dirent.file_name().into_string() else {
            continue;
        };
        // Dotfiles are the kernel's own state (.ipython, .config, .cache); the connection
        // file lives outside `home` but is skipped here too should one ever be put there.
        if !is_file_name(&name) || name == "connection.json" {
            continue;
        }
        // `symlink_metadata` does not follow links: a symlink is not a regular file.
        let Ok(meta) = std::fs::symlink_metadata(dirent.path()) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let stamp = FileStamp {
            ino: meta.ino(),
            size: meta.len(),
            modified: meta.modified().ok(),
        };
        if known.get(&name) == Some(&stamp) {
            continue;
        }
        let content = if stamp.size > max_bytes {
            Err(format!(
                "{} is larger than the {} limit per file",
                human_size(stamp.size),
                human_size(max_bytes)
            ))
        } else {
            read_regular(&dirent.path(), &meta, max_bytes)
        };
        found.push(Found {
            name,
            stamp,
            content,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Reads a file checked as regular by `symlink_metadata`, refusing it if the path now
/// leads elsewhere (swapped for a link between the check and the open) or it grew past
/// `max_bytes`.
fn read_regular(
    path: &Path,
    checked: &std::fs::Metadata,
    max_bytes: u64,
) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let opened = file
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?;
    if !opened.file_type().is_file()
        || opened.ino() != checked.ino()
        || opened.dev() != checked.dev()
    {
        return Err("changed while it was read".to_owned());
    }
    let mut content = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if content.len() as u64 > max_bytes {
        return Err(format!(
            "is larger than the {} limit per file",
            human_size(max_bytes)
        ));
    }
    Ok(content)
}

/// The content of the files `display_data`.
pub fn files_display(cell: Uuid, files: &[CellFile]) -> Value {
    let plain = files
        .iter()
        .map(|f| format!("{} ({})", f.name, human_size(f.size)))
        .collect::<Vec<_>>()
        .join(", ");
    let items: String = files
        .iter()
        .map(|f| {
            format!(
                "<li><a href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a> {}</li>",
                escape_html(&file_url(cell, &f.name)),
                escape_html(&f.name),
                human_size(f.size)
            )
        })
        .collect();
    json!({
        "data": {
            "text/plain": format!("files: {plain}"),
            "text/html": format!("<ul class=\"sb-files\">{items}</ul>"),
            FILES_MIME: {
                "cell_id": cell,
                "files": files.iter().map(|f| file_view(cell, f)).collect::<Vec<_>>(),
            },
        },
        "metadata": {},
        "transient": {},
    })
}

/// What a collection did, as messages in the kernel's stream replying to the request whose
/// header is `parent`: a notice naming refused files, then the stored files' `display_data`.
pub fn collected_messages(
    session: &str,
    cell: Uuid,
    parent: &Map<String, Value>,
    collected: &Collected,
) -> Vec<WireMessage> {
    let mut messages = Vec::new();
    if !collected.refused.is_empty() {
        let text = format!(
            "[switchboard] files not stored: {}\n",
            collected.refused.join("; ")
        );
        let mut notice = WireMessage::new(
            Channel::Iopub,
            "stream",
            json!({ "name": "stderr", "text": text }),
            session,
        )
        .with_parent_header(parent);
        notice
            .metadata
            .insert("switchboard".into(), json!({ "notice": FILE_LIMIT_NOTICE }));
        messages.push(notice);
    }
    if !collected.stored.is_empty() {
        let msg = WireMessage::new(
            Channel::Iopub,
            "display_data",
            files_display(cell, &collected.stored),
            session,
        )
        .with_parent_header(parent);
        messages.push(msg);
    }
    messages
}

/// Makes a cell kernel collect its files at the end of each execution and list them in the
/// execution's output, before its idle status (the kernel holds that status meanwhile), so
/// clients that stop reading at idle, as Jupyter clients do, see them too.
pub async fn attach_cell_kernel(
    store: &Arc<dyn Store>,
    vault: &Arc<Vault>,
    limits: CellLimits,
    entry: &KernelEntry,
    link: Arc<CellLink>,
) {
    let store = Arc::clone(store);
    let vault = Arc::clone(vault);
    let account = entry.account;
    let home = entry.kernel.home_dir();
    let session = entry.kernel.session().to_owned();
    let hook: AfterRun = Arc::new(move |parent| {
        let (store, vault, link) = (Arc::clone(&store), Arc::clone(&vault), Arc::clone(&link));
        let (home, session) = (home.clone(), session.clone());
        Box::pin(async move {
            let collected = collect(&*store, &vault, account, &link, home, limits).await;
            let messages = collected_messages(&session, link.id, &parent, &collected);
            link.executed();
            messages
        })
    });
    if let Err(e) = entry.kernel.set_after_run(hook).await {
        // The kernel died right after it started; its clients learn that from its status.
        tracing::warn!(kernel = %entry.id(), error = %e, "cannot collect this cell's files");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn permalinks_are_random_url_safe_and_recognised() {
        let a = new_permalink();
        let b = new_permalink();
        assert_eq!(a.len(), 11);
        assert_ne!(a, b);
        assert!(is_permalink(&a) && is_permalink(&b));
        assert!(!is_permalink("short"));
        assert!(!is_permalink("has/slash12"));
        assert!(!is_permalink("much-too-long-for-one"));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(12_345), "12.3 kB");
        assert_eq!(human_size(1_100), "1.1 kB");
        assert_eq!(human_size(10_485_760), "10.5 MB");
    }

    #[test]
    fn file_names_are_escaped_in_urls_and_html() {
        let cell = Uuid::nil();
        assert_eq!(
            file_url(cell, "a b&<c>.png"),
            format!("/api/v1/cells/{cell}/files/a%20b%26%3Cc%3E.png")
        );
        let file = CellFile {
            name: "<b>.txt".into(),
            size: 2,
            updated_at: chrono::Utc::now(),
        };
        let shown = files_display(cell, &[file]);
        let html = shown["data"]["text/html"].as_str().unwrap();
        assert!(html.contains("&lt;b&gt;.txt</a> 2 B"), "{html}");
        assert_eq!(shown["data"]["text/plain"], "files: <b>.txt (2 B)");
        assert!(!is_file_name(".hidden") && !is_file_name("a/b") && is_file_name("out.csv"));
    }

    #[test]
    fn scan_takes_new_and_changed_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::write(home.join("out.txt"), "hi").unwrap();
        std::fs::write(home.join(".hidden"), "x").unwrap();
        std::fs::write(home.join("big.bin"), vec![0u8; 11]).unwrap();
        std::fs::create_dir(home.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", home.join("link.txt")).unwrap();

        let found = scan(home, &HashMap::new(), 10).unwrap();
        let names: Vec<_> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["big.bin", "out.txt"]);
        assert!(found[0].content.is_err());
        assert_eq!(found[1].content.as_deref().unwrap(), b"hi");

        let known: HashMap<_, _> = found.iter().map(|f| (f.name.clone(), f.stamp)).collect();
        assert!(scan(home, &known, 10).unwrap().is_empty());
        std::fs::write(home.join("out.txt"), "hello").unwrap();
        let again = scan(home, &known, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].content.as_deref().unwrap(), b"hello");
    }
}
