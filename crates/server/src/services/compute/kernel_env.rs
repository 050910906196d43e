//! The `env` of a kernel start request: Jupyter Server's gateway client sends every
//! `KERNEL_*` variable of its own process (`KERNEL_USERNAME`, `KERNEL_WORKING_DIR`,
//! `KERNEL_LAUNCH_TIMEOUT`, …) and those its operator allowed, as Enterprise Gateway takes
//! them. A node passes on only the names its `kernel_env_allowed` list allows; the rest are
//! ignored and logged by name (values may be secrets and are never logged). Nothing of the
//! node's own environment ever reaches a kernel: its environment is built from scratch.

use super::error::{ComputeError, printable};
use std::collections::BTreeMap;

/// The most variables one request may set.
pub const MAX_VARIABLES: usize = 64;
/// The longest value of one variable, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// The longest name of one variable, in bytes.
const MAX_NAME_BYTES: usize = 128;

/// Which requested variables a node passes on to kernels.
#[derive(Debug, Clone, Default)]
pub struct EnvPolicy {
    /// Names, or prefixes (a pattern ending in `*`).
    allowed: Vec<String>,
}

/// A request's variables, sorted into those passed on and those left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedEnv {
    /// Passed on to the kernel.
    pub passed: BTreeMap<String, String>,
    /// Left out: not allowed, or not a variable name.
    pub ignored: Vec<String>,
}

impl EnvPolicy {
    /// The policy of `kernel_env_allowed` (empty entries are no pattern).
    pub fn new(allowed: &[String]) -> EnvPolicy {
        EnvPolicy {
            allowed: allowed
                .iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    fn allows(&self, name: &str) -> bool {
        self.allowed
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            })
    }

    /// Sorts `requested`: too many variables, or a value too long or holding a NUL, is
    /// refused (422 `invalid_field`); a name the list does not allow, or that is no
    /// variable name, is left out.
    pub fn sort(&self, requested: BTreeMap<String, String>) -> Result<SortedEnv, ComputeError> {
        if requested.len() > MAX_VARIABLES {
            return Err(ComputeError::InvalidEnv(format!(
                "env has {} variables; at most {MAX_VARIABLES} may be sent",
                requested.len()
            )));
        }
        let mut sorted = SortedEnv::default();
        for (name, value) in requested {
            if value.len() > MAX_VALUE_BYTES || value.contains('\0') {
                return Err(ComputeError::InvalidEnv(format!(
                    "env variable {}: a value must be at most {MAX_VALUE_BYTES} bytes without NUL",
                    printable(&name)
                )));
            }
            if is_variable_name(&name) && self.allows(&name) {
                sorted.passed.insert(name, value);
            } else {
                sorted.ignored.push(printable(&name));
            }
        }
        Ok(sorted)
    }
}

/// A portable variable name: letters, digits and `_`, not starting with a digit.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME_BYTES
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_default_passes_kernel_variables_and_nothing_else() {
        let policy = EnvPolicy::new(&["KERNEL_*".to_owned()]);
        let sorted = policy
            .sort(env(&[
                ("KERNEL_USERNAME", "ana"),
                ("KERNEL_WORKING_DIR", "/home/ana/notebooks"),
                ("PATH", "/tmp/evil"),
                ("LD_PRELOAD", "/tmp/evil.so"),
                ("PYTHONPATH", "/tmp"),
                ("kernel_username", "lowercase is another name"),
            ]))
            .unwrap();
        assert_eq!(
            sorted.passed,
            env(&[
                ("KERNEL_USERNAME", "ana"),
                ("KERNEL_WORKING_DIR", "/home/ana/notebooks")
            ])
        );
        assert_eq!(
            sorted.ignored,
            ["LD_PRELOAD", "PATH", "PYTHONPATH", "kernel_username"]
        );
    }

    #[test]
    fn names_and_prefixes_and_an_empty_list() {
        let policy = EnvPolicy::new(&["KERNEL_USERNAME".to_owned(), "TEAM_*".to_owned()]);
        let sorted = policy
            .sort(env(&[
                ("KERNEL_USERNAME", "ana"),
                ("KERNEL_USERNAME_X", "no"),
                ("TEAM_A", "yes"),
            ]))
            .unwrap();
        assert_eq!(
            sorted.passed.keys().collect::<Vec<_>>(),
            ["KERNEL_USERNAME", "TEAM_A"]
        );
        let none = EnvPolicy::new(&[String::new()]);
        let sorted = none.sort(env(&[("KERNEL_USERNAME", "ana")])).unwrap();
        assert!(sorted.passed.is_empty());
        assert_eq!(sorted.ignored, ["KERNEL_USERNAME"]);
    }

    #[test]
    fn what_is_no_variable_name_is_left_out_even_when_a_prefix_matches() {
        let policy = EnvPolicy::new(&["*".to_owned()]);
        let sorted = policy
            .sort(env(&[
                ("A=B", "1"),
                ("1ABC", "1"),
                ("", "1"),
                ("KERNEL X", "1"),
                ("OK_1", "1"),
            ]))
            .unwrap();
        assert_eq!(sorted.passed.keys().collect::<Vec<_>>(), ["OK_1"]);
        assert_eq!(sorted.ignored.len(), 4);
    }

    #[test]
    fn too_many_or_too_long_or_nul_is_refused() {
        let policy = EnvPolicy::new(&["KERNEL_*".to_owned()]);
        let many: BTreeMap<_, _> = (0..=MAX_VARIABLES)
            .map(|i| (format!("KERNEL_{i}"), "x".to_owned()))
            .collect();
        assert!(matches!(
            policy.sort(many),
            Err(ComputeError::InvalidEnv(_))
        ));
        let long = env(&[("KERNEL_A", &"x".repeat(MAX_VALUE_BYTES + 1))]);
        assert!(matches!(
            policy.sort(long),
            Err(ComputeError::InvalidEnv(_))
        ));
        let nul = env(&[("KERNEL_A", "a\0b")]);
        assert!(matches!(policy.sort(nul), Err(ComputeError::InvalidEnv(_))));
    }
}
