//! Launch, execute, output order, rich output, widgets, stdin, interrupt, restart,
//! shutdown, death detection, raw messages and replay, 32 concurrent launches.

use std::time::Duration;

use serde_json::json;
use switchboard_kernel::{
    Channel, DeathReason, Delivery, ExecuteEvent, ExecuteOptions, KernelError, KernelState,
    WireMessage,
};

use crate::harness::{alive, config, gone, node, run};

#[tokio::test]
async fn executes_code_and_reports_results() {
    let node = node().await;
    let kernel = node.kernel().await;
    assert_eq!(kernel.state(), KernelState::Idle);
    assert_eq!(kernel.kernel_info()["language_info"]["name"], "python");
    let outcome = run(&kernel, "print('hello')\n1 + 1").await;
    assert_eq!(outcome.stdout(), "hello\n");
    assert_eq!(outcome.text_result(), Some("2"));
    assert!(matches!(
        outcome.events.iter().rev().nth(1),
        Some(ExecuteEvent::Reply { status, .. }) if status == "ok"
    ));
    let report = kernel.sandbox_report().unwrap();
    assert!(report.seccomp, "{report}");
    assert_eq!(report.landlock, "full", "{report}");
    let info = kernel.request_kernel_info().await.unwrap();
    assert_eq!(info["status"], "ok");
    kernel.shutdown().await.unwrap();
}

#[tokio::test]
async fn ten_thousand_lines_arrive_in_order_then_the_final_idle() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut execution = kernel
        .execute("for i in range(10**4): print(i)")
        .await
        .unwrap();
    let mut stdout = String::new();
    let mut events = Vec::new();
    while let Some(event) = execution.next().await {
        let event = event.unwrap();
        if let ExecuteEvent::Stream { name, text } = &event {
            assert_eq!(name, "stdout");
            stdout.push_str(text);
        }
        events.push(event);
    }
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10_000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, i.to_string());
    }
    assert_eq!(events.first(), Some(&ExecuteEvent::Busy));
    assert_eq!(events.last(), Some(&ExecuteEvent::Idle));
    assert!(matches!(
        events[events.len() - 2],
        ExecuteEvent::Reply { .. }
    ));
    assert!(
        !events.iter().any(|e| matches!(e, ExecuteEvent::Notice(_))),
        "nothing was dropped"
    );
}

#[tokio::test]
async fn errors_displays_plots_and_widgets() {
    let node = node().await;
    let kernel = node.kernel().await;

    let outcome = run(&kernel, "1/0").await;
    assert_eq!(outcome.error().unwrap().0, "ZeroDivisionError");
    assert!(outcome.events.iter().any(|e| matches!(
        e,
        ExecuteEvent::Error { traceback, .. } if !traceback.is_empty()
    )));

    let outcome = run(
        &kernel,
        "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'), display_id='d1')",
    )
    .await;
    assert!(outcome.events.iter().any(|e| matches!(
        e,
        ExecuteEvent::Display { data, transient, .. }
            if data["text/html"] == "<b>hi</b>" && transient["display_id"] == "d1"
    )));

    let outcome = run(
        &kernel,
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    )
    .await;
    assert!(
        outcome.events.iter().any(|e| matches!(
            e,
            ExecuteEvent::Display { data, .. } if data.contains_key("image/png")
        )),
        "{:?}",
        outcome
    );

    let outcome = run(
        &kernel,
        "import ipywidgets as w\ns = w.IntSlider(value=3)\ndisplay(s)",
    )
    .await;
    let comms: Vec<_> = outcome
        .events
        .iter()
        .filter_map(|e| match e {
            ExecuteEvent::Comm(msg) => Some(msg.clone()),
            _ => None,
        })
        .collect();
    assert!(
        comms.iter().any(|m| m.msg_type() == "comm_open"),
        "{outcome:?}"
    );
    assert!(outcome.events.iter().any(|e| matches!(
        e,
        ExecuteEvent::Display { data, .. }
            if data.contains_key("application/vnd.jupyter.widget-view+json")
    )));
    // A client moves the slider: a comm_msg on shell changes the value in the kernel.
    let slider = comms
        .iter()
        .find(|m| m.content["data"]["state"]["_model_name"] == "IntSliderModel")
        .unwrap();
    let comm_id = slider.content["comm_id"].as_str().unwrap();
    let update = WireMessage::new(
        Channel::Shell,
        "comm_msg",
        json!({"comm_id": comm_id, "data": {"method": "update", "state": {"value": 42}, "buffer_paths": []}}),
        "browser",
    );
    kernel.send(update).await.unwrap();
    let mut value = String::new();
    for _ in 0..50 {
        value = run(&kernel, "print(s.value)").await.stdout();
        if value == "42\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(value, "42\n");
}

#[tokio::test]
async fn input_requests_are_answered_on_stdin() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut execution = kernel
        .execute_with(
            "name = input('name? ')\nprint('hi', name)",
            ExecuteOptions {
                allow_stdin: true,
                ..ExecuteOptions::default()
            },
        )
        .await
        .unwrap();
    let mut stdout = String::new();
    while let Some(event) = execution.next().await {
        match event.unwrap() {
            ExecuteEvent::InputRequest { prompt, .. } => {
                assert_eq!(prompt, "name? ");
                let reply = WireMessage::new(
                    Channel::Stdin,
                    "input_reply",
                    json!({"value": "Ada"}),
                    kernel.session(),
                );
                kernel.send(reply).await.unwrap();
            }
            ExecuteEvent::Stream { text, .. } => stdout.push_str(&text),
            _ => {}
        }
    }
    assert!(stdout.contains("hi Ada"), "{stdout}");
}

#[tokio::test]
async fn interrupt_stops_running_code_and_the_kernel_carries_on() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut execution = kernel
        .execute("import time\nwhile True: time.sleep(0.05)")
        .await
        .unwrap();
    assert_eq!(execution.next().await.unwrap().unwrap(), ExecuteEvent::Busy);
    tokio::time::sleep(Duration::from_millis(200)).await;
    kernel.interrupt().await.unwrap();
    let mut ename = None;
    while let Some(event) = execution.next().await {
        if let ExecuteEvent::Error { ename: e, .. } = event.unwrap() {
            ename = Some(e);
        }
    }
    assert_eq!(ename.as_deref(), Some("KeyboardInterrupt"));
    assert_eq!(run(&kernel, "1 + 1").await.text_result(), Some("2"));
}

#[tokio::test]
async fn execute_deadline_is_reported() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut execution = kernel
        .execute_with(
            "import time\ntime.sleep(30)",
            ExecuteOptions {
                timeout: Some(Duration::from_millis(500)),
                ..ExecuteOptions::default()
            },
        )
        .await
        .unwrap();
    let mut last = None;
    while let Some(event) = execution.next().await {
        last = Some(event);
    }
    assert!(matches!(
        last,
        Some(Err(KernelError::Timeout {
            what: "execute",
            ..
        }))
    ));
    kernel.interrupt().await.unwrap();
    // Requests sent before the interrupted one finishes would be aborted: wait for idle.
    let mut state = kernel.watch_state();
    tokio::time::timeout(
        Duration::from_secs(30),
        state.wait_for(|s| *s == KernelState::Idle),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(run(&kernel, "'alive'").await.text_result(), Some("'alive'"));
}

#[tokio::test]
async fn restart_gives_a_clean_process_with_the_same_id_and_numbering() {
    let node = node().await;
    let kernel = node.kernel().await;
    run(&kernel, "x = 5\nopen('kept.txt', 'w').write('still here')").await;
    let first_pid = kernel.pid();
    let mut subscription = kernel.subscribe(None);
    let seq_before = kernel.next_seq();
    kernel.restart().await.unwrap();
    assert!(gone(first_pid).await, "the old process is gone");
    assert_ne!(kernel.pid(), first_pid);
    assert_eq!(kernel.process().generation, 2);
    assert_eq!(kernel.state(), KernelState::Idle);
    let outcome = run(&kernel, "x").await;
    assert_eq!(outcome.error().unwrap().0, "NameError");
    assert_eq!(
        run(&kernel, "print(open('kept.txt').read())")
            .await
            .stdout(),
        "still here\n"
    );
    // The subscriber saw the restart, numbered after what came before.
    let mut states = Vec::new();
    while let Ok(Some(Delivery::Message(n))) =
        tokio::time::timeout(Duration::from_millis(100), subscription.recv()).await
    {
        assert!(n.seq >= seq_before);
        if n.msg.msg_type() == "status" {
            states.push(n.msg.content_str("execution_state").to_owned());
        }
    }
    assert_eq!(states.first().map(String::as_str), Some("restarting"));
}

#[tokio::test]
async fn shutdown_kills_everything_the_kernel_started_and_removes_its_folder() {
    let node = node().await;
    let kernel = node.kernel().await;
    let outcome = run(
        &kernel,
        "import subprocess\np = subprocess.Popen(['sleep', '1000'])\nprint(p.pid)",
    )
    .await;
    let child: u32 = outcome.stdout().trim().parse().unwrap();
    assert!(alive(child));
    let pid = kernel.pid();
    let dir = kernel.dir().to_path_buf();
    kernel.shutdown().await.unwrap();
    assert!(gone(pid).await);
    assert!(
        gone(child).await,
        "the kernel's child was killed with its group"
    );
    assert!(!dir.exists());
    assert_eq!(kernel.state(), KernelState::Dead(DeathReason::Shutdown));
    assert!(matches!(
        kernel.execute("1").await,
        Err(KernelError::Stopped(DeathReason::Shutdown))
    ));
}

#[tokio::test]
async fn dropping_the_last_handle_kills_the_kernel() {
    let node = node().await;
    let kernel = node.kernel().await;
    let pid = kernel.pid();
    let dir = kernel.dir().to_path_buf();
    drop(kernel);
    assert!(gone(pid).await);
    for _ in 0..500 {
        if !dir.exists() && node.launcher.running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!dir.exists());
    assert_eq!(node.launcher.running(), 0);
}

#[tokio::test]
async fn a_kernel_that_exits_is_reported_dead_and_can_be_restarted() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut execution = kernel.execute("import os\nos._exit(3)").await.unwrap();
    let mut last = None;
    while let Some(event) = execution.next().await {
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(Err(KernelError::Died(DeathReason::Exited { code: 3 })))
        ),
        "{last:?}"
    );
    assert_eq!(
        kernel.state(),
        KernelState::Dead(DeathReason::Exited { code: 3 })
    );
    kernel.restart().await.unwrap();
    assert_eq!(run(&kernel, "1 + 1").await.text_result(), Some("2"));
}

#[tokio::test]
async fn a_frozen_kernel_is_detected_by_its_heartbeat() {
    let node = node().await;
    let mut config = config();
    config.timeouts.heartbeat_interval = Duration::from_millis(200);
    config.timeouts.heartbeat_timeout = Duration::from_millis(300);
    config.timeouts.heartbeat_misses = 3;
    let kernel = node.kernel_with(&config).await;
    let pid = kernel.pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(30), kernel.wait_dead())
        .await
        .unwrap();
    assert_eq!(reason, DeathReason::HeartbeatLost);
    assert!(gone(pid).await);
}

#[tokio::test]
async fn raw_messages_subscriptions_and_replay_for_reconnecting_clients() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut first = kernel.subscribe(None);
    // A browser's message, as the channels WebSocket delivers it.
    let text = json!({
        "channel": "shell",
        "header": {"msg_id": "m1", "msg_type": "execute_request", "session": "browser-1",
                   "username": "ada", "date": "2026-01-01T00:00:00Z", "version": "5.3"},
        "parent_header": {}, "metadata": {},
        "content": {"code": "print('via ws')", "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true},
        "buffers": []
    })
    .to_string();
    kernel
        .send(WireMessage::from_ws_text(&text).unwrap())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut got_reply = false;
    let mut got_output = false;
    while !(got_reply && got_output) {
        let Some(Delivery::Message(n)) = first.recv().await else {
            panic!("subscription ended")
        };
        if n.msg.parent_msg_id() == Some("m1") {
            assert_eq!(n.msg.parent_session(), Some("browser-1"));
            got_reply |= n.msg.msg_type() == "execute_reply";
            got_output |= n.msg.msg_type() == "stream" && n.msg.content_str("text") == "via ws\n";
            let ws = n.msg.to_ws_json();
            assert_eq!(ws["channel"], n.msg.channel.as_str());
        }
        seen.push(n.seq);
    }
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    // A client that saw up to the second message reconnects and gets the rest in order.
    let mut again = kernel.subscribe(Some(seen[1]));
    for expected in &seen[2..] {
        let Some(Delivery::Message(n)) = again.recv().await else {
            panic!("replay ended")
        };
        assert_eq!(n.seq, *expected);
    }
    // IOPub is receive-only.
    let bad = WireMessage::new(Channel::Iopub, "stream", json!({}), "x");
    assert!(kernel.send(bad).await.is_err());
}

#[tokio::test]
async fn thirty_two_kernels_launched_at_once_all_come_up() {
    let node = node().await;
    let config = config();
    let launches = (0..32).map(|_| node.launcher.launch(&node.spec, &config));
    let kernels: Vec<_> = futures::future::join_all(launches)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(node.launcher.running(), 32);
    let runs = kernels
        .iter()
        .enumerate()
        .map(|(i, k)| async move { run(k, &format!("v = {i}\nv * 2")).await });
    let outcomes = futures::future::join_all(runs).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.text_result(), Some((i * 2).to_string().as_str()));
    }
    let mut uids: Vec<u32> = kernels
        .iter()
        .filter_map(|k| k.sandbox_report().map(|r| r.uid))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 32, "each kernel has its own uid");
    futures::future::join_all(kernels.iter().map(|k| k.shutdown())).await;
    assert_eq!(node.launcher.running(), 0);
}

/// A hook adding a `display_data` (what the server does with a run's files), after `delay`.
fn display_hook(
    kernel: &switchboard_kernel::Kernel,
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
    delay: Option<Duration>,
) -> switchboard_kernel::AfterRun {
    let session = kernel.session().to_owned();
    let calls = std::sync::Arc::clone(calls);
    std::sync::Arc::new(move |parent| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let session = session.clone();
        Box::pin(async move {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            let content = json!({"data": {"text/plain": "after"}, "metadata": {}, "transient": {}});
            vec![
                WireMessage::new(Channel::Iopub, "display_data", content, &session)
                    .with_parent_header(&parent),
            ]
        })
    })
}

#[tokio::test]
async fn an_after_run_hook_speaks_just_before_the_final_idle() {
    let node = node().await;
    let kernel = node.kernel().await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Slow enough that the kernel's idle status has surely arrived and waits.
    let hook = display_hook(&kernel, &calls, Some(Duration::from_millis(300)));
    kernel.set_after_run(hook).await.unwrap();
    let mut subscription = kernel.subscribe(None);
    let outcome = run(&kernel, "print('during')").await;
    assert_eq!(outcome.stdout(), "during\n");
    assert!(matches!(outcome.events.last(), Some(ExecuteEvent::Idle)));
    assert!(
        outcome.events.iter().any(
            |e| matches!(e, ExecuteEvent::Display { data, .. } if data["text/plain"] == "after")
        ),
        "{:?}",
        outcome.events
    );
    // In the raw stream the hook's message comes right before the idle status.
    let mut iopub = Vec::new();
    while let Ok(Some(Delivery::Message(n))) =
        tokio::time::timeout(Duration::from_millis(200), subscription.recv()).await
    {
        if n.msg.channel == Channel::Iopub {
            iopub.push(format!(
                "{} {}",
                n.msg.msg_type(),
                n.msg.content_str("execution_state")
            ));
        }
    }
    let display = iopub.iter().position(|m| m.starts_with("display_data"));
    assert_eq!(
        display.map(|i| iopub[i + 1].as_str()),
        Some("status idle"),
        "{iopub:?}"
    );
    // Only executions end with the hook, not other requests.
    kernel.request_kernel_info().await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_after_run_hook_that_never_answers_holds_the_idle_status_only_so_long() {
    let node = node().await;
    let kernel = node.kernel().await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    kernel
        .set_after_run(display_hook(&kernel, &calls, None))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let outcome = run(&kernel, "print('done')").await;
    assert_eq!(outcome.stdout(), "done\n");
    assert!(matches!(outcome.events.last(), Some(ExecuteEvent::Idle)));
    assert!(
        !outcome
            .events
            .iter()
            .any(|e| matches!(e, ExecuteEvent::Display { .. }))
    );
    assert!(started.elapsed() >= switchboard_kernel::AFTER_RUN_WAIT);
    // The kernel is not held up afterwards.
    assert_eq!(run(&kernel, "print(2)").await.stdout(), "2\n");
}
