//! Kernel ids: plain UUIDs, as Jupyter Server routes only ids of that shape, that still tell
//! any node which node runs the kernel.
//!
//! An id is a version-8 UUID (RFC 9562 §5.8) whose first 48 bits are the running node's
//! [`NodeTag`] (a hash of its name) and whose other 74 free bits are random. A node finds
//! the owner by comparing the tag with those of the live nodes the monitor knows, with no
//! lookup in the store or on the bus, so naming a kernel costs nothing on the request path
//! and works while the store is slow. Ids of the earlier form, `<node>.<uuid>`, still parse
//! (a node of an older release may run such a kernel during a rolling upgrade).

use sha2::{Digest, Sha256};
use std::fmt;

/// Bytes of a node's name hash at the start of each of its kernel ids.
const TAG_BYTES: usize = 6;

/// 48 bits that stand for a node in its kernel ids. Two nodes of one cluster share a tag
/// with a chance of about n² / 2⁴⁹ (1 in 10¹¹ for 100 nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeTag([u8; TAG_BYTES]);

impl NodeTag {
    /// The tag of the node named `node` (the configured node name, exactly).
    pub fn of(node: &str) -> NodeTag {
        let digest = Sha256::new()
            .chain_update(b"switchboard kernel ids\0")
            .chain_update(node.as_bytes())
            .finalize();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&digest[..TAG_BYTES]);
        NodeTag(tag)
    }

    /// A new kernel id of this node: the tag, then random bits.
    pub fn new_kernel_id(&self) -> String {
        let mut bytes: [u8; 16] = rand::random();
        bytes[..TAG_BYTES].copy_from_slice(&self.0);
        uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

impl NodeTag {
    /// How every kernel id of this node starts (`ec862ed8-e269-`): what a proxy in front
    /// matches to send a kernel's requests to its node.
    pub fn id_start(&self) -> String {
        let hex = self.to_string();
        format!("{}-{}-", &hex[..8], &hex[8..])
    }
}

impl fmt::Display for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The node a kernel id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelHome {
    /// A UUID id: the node whose name has this tag.
    Tagged(NodeTag),
    /// An id of the earlier form: the node whose name reads as this prefix
    /// ([`node_id_prefix`]).
    Named(String),
}

impl KernelHome {
    /// Whether this is the home of the node named `node`.
    pub fn is(&self, node: &str) -> bool {
        match self {
            KernelHome::Tagged(tag) => NodeTag::of(node) == *tag,
            KernelHome::Named(prefix) => node_id_prefix(node) == *prefix,
        }
    }
}

impl fmt::Display for KernelHome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelHome::Tagged(tag) => write!(f, "tagged {tag}"),
            KernelHome::Named(prefix) => f.write_str(prefix),
        }
    }
}

/// A well-formed kernel id: its one spelling (lowercase) and the node it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelId {
    canonical: String,
    home: KernelHome,
}

impl KernelId {
    /// Reads an id as a client sent it: a hyphenated version-8 UUID (any case), or the
    /// earlier `<node>.<uuid>`. Anything else is no kernel id; checked before any lookup,
    /// so nothing else in a path parameter goes further.
    pub fn parse(id: &str) -> Option<KernelId> {
        if id.len() == 36 {
            let uuid = uuid::Uuid::try_parse(id).ok()?;
            if uuid.get_version_num() != 8 || uuid.get_variant() != uuid::Variant::RFC4122 {
                return None;
            }
            let mut tag = [0; TAG_BYTES];
            tag.copy_from_slice(&uuid.as_bytes()[..TAG_BYTES]);
            return Some(KernelId {
                canonical: uuid.hyphenated().to_string(),
                home: KernelHome::Tagged(NodeTag(tag)),
            });
        }
        let (node, uuid) = id.split_once('.')?;
        let well_formed = (1..=63).contains(&node.len())
            && node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && uuid.len() == 36
            && uuid::Uuid::try_parse(uuid).is_ok();
        well_formed.then(|| KernelId {
            canonical: id.to_owned(),
            home: KernelHome::Named(node.to_owned()),
        })
    }

    /// The id as the registry keeps it.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The node that runs the kernel.
    pub fn home(&self) -> &KernelHome {
        &self.home
    }
}

/// The node name as ids of the earlier form start with it: characters other than ASCII
/// letters, digits, `-` and `_` became `-`, at most 63 of them.
pub fn node_id_prefix(node: &str) -> String {
    let prefix: String = node
        .chars()
        .take(63)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if prefix.is_empty() {
        "node".to_owned()
    } else {
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jupyter Server's route pattern for kernel ids (`jupyter_server/services/kernels/
    /// handlers.py`): five groups of word characters joined by hyphens.
    fn jupyter_routes(id: &str) -> bool {
        let groups: Vec<_> = id.split('-').collect();
        groups.len() == 5
            && groups
                .iter()
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    }

    #[test]
    fn an_id_is_a_uuid_jupyter_server_routes_and_names_its_node() {
        let tag = NodeTag::of("node-a");
        let id = tag.new_kernel_id();
        assert!(jupyter_routes(&id), "{id}");
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 8);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        let parsed = KernelId::parse(&id).unwrap();
        assert_eq!(parsed.as_str(), id);
        assert!(parsed.home().is("node-a"));
        assert!(!parsed.home().is("node-b"));
        assert_ne!(tag.new_kernel_id(), id, "random after the tag");
        assert!(id.starts_with(&tag.id_start()), "{id}");
    }

    #[test]
    fn ids_are_read_in_any_case_and_kept_lowercase() {
        let id = NodeTag::of("n").new_kernel_id();
        let parsed = KernelId::parse(&id.to_uppercase()).unwrap();
        assert_eq!(parsed.as_str(), id);
    }

    #[test]
    fn ids_of_the_earlier_form_still_name_their_node() {
        let old = "node-a.5f0c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44";
        let parsed = KernelId::parse(old).unwrap();
        assert_eq!(parsed.as_str(), old);
        assert_eq!(parsed.home(), &KernelHome::Named("node-a".into()));
        assert!(parsed.home().is("node-a"));
        assert!(
            parsed.home().is("node a"),
            "the prefix of a name with a space"
        );
    }

    #[test]
    fn anything_else_is_no_kernel_id() {
        for bad in [
            "",
            "k1",
            "5f0c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44", // version 4: not one of ours
            "5f0c2a9e1b7d4c3e9a512f6d8e0b7c44",
            "{5f0c2a9e-1b7d-8c3e-9a51-2f6d8e0b7c44}",
            "node.x",
            ".5f0c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44",
            "a/b.5f0c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44",
            "../../etc/passwd",
        ] {
            assert!(KernelId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tags_differ_between_nodes_and_stay_the_same_for_one() {
        assert_eq!(NodeTag::of("node-a"), NodeTag::of("node-a"));
        assert_ne!(NodeTag::of("node-a"), NodeTag::of("node-b"));
        // Fixed across releases and machines: nodes of different builds read each other's ids.
        assert_eq!(NodeTag::of("node-a").to_string(), "b4d41d12f1fe");
        // The tags contrib/cluster's proxy files route by.
        assert_eq!(NodeTag::of("n1").id_start(), "ec862ed8-e269-");
        assert_eq!(NodeTag::of("n2").id_start(), "5800ecec-d3d0-");
        assert_eq!(NodeTag::of("n3").id_start(), "75cf84dd-7150-");
    }
}
