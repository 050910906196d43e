//! Running the real binary: a server child process on a free port, and CLI commands.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `switchboard serve` child process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts a server on `port` with data in `data`, and waits until `/healthz` answers.
    pub fn start(data: &Path, port: u16) -> ServerProcess {
        Self::start_with(data, port, &[])
    }

    /// Like [`start`](Self::start), with more `serve` flags.
    pub fn start_with(data: &Path, port: u16, flags: &[&std::ffi::OsStr]) -> ServerProcess {
        Self::spawn(data, port, flags, "warn", Stdio::null())
    }

    /// Like [`start`](Self::start), logging at `info` into the file `log`.
    pub fn start_logged(data: &Path, port: u16, log: &Path) -> ServerProcess {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn(data, port, &[], "info", Stdio::from(file))
    }

    /// Starts a server as `switchboard serve` is started from a checkout: in `cwd`, with the
    /// default relative data folder (`./data`).
    pub fn start_in(cwd: &Path, port: u16) -> ServerProcess {
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(cwd)
            .env("RUST_LOG", "warn")
            .env_remove("SWITCHBOARD_LOG")
            .env_remove("SWITCHBOARD_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::until_up(child, port)
    }

    fn spawn(
        data: &Path,
        port: u16,
        flags: &[&std::ffi::OsStr],
        log_level: &str,
        stdout: Stdio,
    ) -> ServerProcess {
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .args(flags)
            // The detector costs a model load and its memory; the tests about it start
            // their own servers.
            .env("SWITCHBOARD_DETECTION", "false")
            .env("RUST_LOG", log_level)
            .env_remove("SWITCHBOARD_LOG")
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::until_up(child, port)
    }

    /// Waits until `/healthz` answers.
    fn until_up(child: Child, port: u16) -> ServerProcess {
        Self::wait_for(child, port, PATIENCE)
    }

    /// Takes a `serve` child a test started itself (its own flags, folder or environment)
    /// and waits up to `patience` until `/healthz` answers; dropping it kills the child.
    pub fn wait_for(child: Child, port: u16, patience: Duration) -> ServerProcess {
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(r) = reqwest::blocking::get(format!("{base}/healthz"))
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        ServerProcess { child, base }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid we spawned and a standard signal has no memory effects.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `switchboard <args> --data-dir <data>` and returns its output.
pub fn cli(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn");
    match stdin {
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    }
}

/// Like [`cli`], asserting success and returning stdout.
pub fn cli_ok(data: &Path, args: &[&str]) -> String {
    let out = cli(data, args, None);
    assert!(
        out.status.success(),
        "switchboard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Signs up `owner` in a new account on the server at `base` and returns the user token.
pub fn sign_up_owner(base: &str) -> String {
    reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "owner", "password": "quiet lantern orbit mosaic", "account_name": "Home"}))
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
