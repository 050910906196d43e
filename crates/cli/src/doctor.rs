//! `switchboard doctor`: what this machine has for each optional part of Switchboard, and
//! for what is missing, the one command that adds it. It changes nothing.

use crate::settings::ServeArgs;
use clap::Args;
use std::process::{Command, Stdio};
use switchboard_kernel::HostSupport;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServeArgs,
}

/// One part, as found here.
#[derive(Debug, serde::Serialize)]
struct Check {
    part: &'static str,
    ok: bool,
    found: String,
    /// What adds it, when it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn ok(part: &'static str, found: impl Into<String>) -> Check {
        Check {
            part,
            ok: true,
            found: found.into(),
            fix: None,
        }
    }

    fn missing(part: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            part,
            ok: false,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let config = args.server.load()?;
    let checks = tokio::task::spawn_blocking(move || checks(&config)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
        return Ok(());
    }
    for c in &checks {
        println!(
            "{:<20} {:<8} {}",
            c.part,
            if c.ok { "ok" } else { "missing" },
            c.found
        );
        if let Some(fix) = &c.fix {
            println!("{:<20} {:<8} → {fix}", "", "");
        }
    }
    Ok(())
}

fn checks(config: &switchboard_server::Config) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(
        match (&config.cameras.detector_model, config.detector_model_path()) {
            _ if !config.cameras.detection => Check::missing(
                "detector model",
                "detection is turned off (detection = false)",
                "switchboard serve --detection true",
            ),
            (None, _) => Check::ok(
                "detector model",
                format!(
                    "{} ({} bytes, inside this program)",
                    switchboard_vision::BUILTIN_MODEL_NAME,
                    switchboard_vision::BUILTIN_MODEL.len()
                ),
            ),
            (Some(_), Some(path)) => Check::ok("detector model", path.display().to_string()),
            (Some(named), None) => Check::missing(
                "detector model",
                format!(
                    "{} not found (snapshots are stored but not detected)",
                    named.display()
                ),
                "switchboard serve --detector-model /path/to/model.onnx, or leave detector_model \
             unset for the built-in model",
            ),
        },
    );
    let library = switchboard_vision::locate_library(config.cameras.onnxruntime_library.as_deref());
    let library_there = library.found_by != "loader" && library.path.is_file()
        || library.found_by == "loader" && loader_finds(&library.path.to_string_lossy());
    out.push(if library_there {
        Check::ok(
            "ONNX Runtime",
            format!(
                "{} (found by: {}); detection uses it",
                library.path.display(),
                library.found_by
            ),
        )
    } else {
        Check::missing(
            "ONNX Runtime",
            "not found: detection uses the pure-Rust backend (several times slower)",
            "python3 -m pip install onnxruntime",
        )
    });
    out.push(voice_check(config));
    out.push(if python_imports("ipykernel") {
        Check::ok("ipykernel", "importable by python3: kernels can start")
    } else {
        Check::missing(
            "ipykernel",
            "not importable by python3: compute cells are off",
            "python3 -m pip install ipykernel",
        )
    });
    let node = config.node_name();
    out.push(Check::ok(
        "kernel ids",
        format!(
            "this node ({node}) starts its kernel ids with {}: a proxy may send \
             /api/kernels/{0}… and /api/v1/kernels/{0}… to it",
            switchboard_server::kernel_id::NodeTag::of(&node).id_start()
        ),
    ));
    let host = HostSupport::detect();
    out.push(if host.root {
        Check::ok(
            "kernel namespaces",
            "running as root: user, mount and network namespaces and per-kernel folders",
        )
    } else {
        Check::missing(
            "kernel namespaces",
            "not root: the kernel sandbox cannot enter namespaces or mount kernel folders",
            "run the server as root (see contrib/switchboard.service)",
        )
    });
    out.push(match host.landlock_abi {
        Some(abi) => Check::ok("Landlock", format!("ABI {abi}")),
        None => Check::missing(
            "Landlock",
            "unavailable",
            "a Linux kernel ≥ 5.13 booted with landlock among its LSMs (lsm=…,landlock)",
        ),
    });
    out.push(if host.seccomp {
        Check::ok("seccomp", "filters available")
    } else {
        Check::missing(
            "seccomp",
            "unavailable",
            "a Linux kernel built with CONFIG_SECCOMP_FILTER",
        )
    });
    let controllers: Vec<&str> = [
        host.cgroups.memory.as_ref().map(|_| "memory"),
        host.cgroups.pids.as_ref().map(|_| "pids"),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.push(if controllers.len() == 2 {
        Check::ok("cgroups", "memory and pids controllers")
    } else {
        Check::missing(
            "cgroups",
            format!(
                "controllers usable: {}{}",
                if controllers.is_empty() {
                    "none".to_owned()
                } else {
                    controllers.join(", ")
                },
                if host.cgroups.notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", host.cgroups.notes.join("; "))
                }
            ),
            "run the server as root under systemd (Delegate=yes), or in a container with \
             the memory and pids controllers delegated",
        )
    });
    out.push(if runs("ffmpeg", &["-version"]) {
        Check::ok("ffmpeg", "on PATH: `switchboard camera` can capture")
    } else {
        Check::missing(
            "ffmpeg",
            "not on PATH (camera capture and MJPEG tests need it)",
            "apt-get install ffmpeg",
        )
    });
    let network = &config.network;
    out.push(match (&network.tls_cert, &network.tls_key) {
        (Some(cert), Some(key)) if cert.is_file() && key.is_file() => {
            Check::ok("TLS", format!("{} and {}", cert.display(), key.display()))
        }
        (Some(cert), Some(key)) => Check::missing(
            "TLS",
            format!("{} or {} cannot be read", cert.display(), key.display()),
            "point --tls-cert and --tls-key at readable PEM files",
        ),
        _ if network.tls_self_signed => {
            Check::ok("TLS", "a self-signed certificate kept in the data folder")
        }
        _ => Check::ok(
            "TLS",
            "plain HTTP (put a TLS proxy in front, or give --tls-cert/--tls-key, or \
             --tls-self-signed)",
        ),
    });
    out
}

/// Voice questions: PocketSphinx's library and model as the server finds them, loaded for
/// real (the model read and the grammar built), or the packages that are missing.
fn voice_check(config: &switchboard_server::Config) -> Check {
    const PART: &str = "voice questions";
    let cameras = &config.cameras;
    let library = switchboard_voice::locate_library(cameras.voice_library.as_deref());
    let library_there = if library.found_by == "loader" {
        loader_finds(&library.path.to_string_lossy())
    } else {
        library.path.is_file()
    };
    let model = switchboard_voice::locate_model(cameras.voice_model.as_deref());
    let missing: Vec<&str> = [
        (!library_there).then_some("libpocketsphinx3"),
        model.is_err().then_some("pocketsphinx-en-us"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let model = match model {
        Ok(model) if missing.is_empty() => model,
        model => {
            let mut found = Vec::new();
            if !library_there {
                found.push(format!(
                    "no {} (looked: {})",
                    switchboard_voice::locate::LIBRARY_NAME,
                    library.path.display()
                ));
            }
            if let Err(why) = model {
                found.push(why);
            }
            return Check::missing(
                PART,
                format!("{}: voice questions answer 503", found.join("; ")),
                format!("apt-get install {}", missing.join(" ")),
            );
        }
    };
    let described = format!(
        "PocketSphinx {} (found by: {}), model {} (found by: {})",
        library.path.display(),
        library.found_by,
        model.folder().display(),
        model.found_by
    );
    let loaded = switchboard_voice::Recognizer::open(library, model, 1).and_then(|recognizer| {
        recognizer.set_phrases(switchboard_server::object_query::spoken_phrases(
            &switchboard_vision::labels::coco80(),
        ));
        recognizer.grammar()
    });
    match loaded {
        Ok(grammar) => Check::ok(
            PART,
            format!(
                "{described}; {} phrases in the grammar{}",
                grammar.phrases.len(),
                if grammar.left_out.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} left out, not in the dictionary: {})",
                        grammar.left_out.len(),
                        grammar
                            .left_out
                            .iter()
                            .map(|l| l.phrase.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        ),
        Err(e) => Check::missing(
            PART,
            format!("{described}, but it does not load: {e}"),
            format!(
                "apt-get install --reinstall {}",
                switchboard_voice::INSTALL_HINT.trim_start_matches("apt-get install ")
            ),
        ),
    }
}

/// Whether the dynamic loader finds the library `name` (asked of `ldconfig`'s cache).
fn loader_finds(name: &str) -> bool {
    Command::new("ldconfig")
        .arg("-p")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(name))
}

/// Whether the `python3` on PATH imports `module`.
fn python_imports(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `program` runs.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
