//! The compute cell page in a real browser, against real ipykernel kernels: a user signs in,
//! runs code with Shift+Enter, sees a coloured traceback, a matplotlib plot and an `@interact`
//! slider that re-runs its function when moved by keyboard, interrupts a long run, gets links
//! to the files its code wrote; then opens the cell's share link and runs it again from there,
//! and sees it signed out. The screenshot lands in `target/screenshots/cell.png`.

use crate::browser::{Browser, Driver};
use crate::helpers::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_runs_code_plots_and_interacts_on_the_cell_page() {
    let app = spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.max_kernels = 4;
        c.kernels.kernel_pool = "python3=1".into();
    })
    .await;
    let driver = Driver::start().await;
    let user = driver.browser("cell", 1280, 1200).await;
    let result =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&app, &user))).await;
    // Close the browser whatever happened, so no Chromium outlives the test.
    let _ = tokio::time::timeout(Duration::from_secs(10), user.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Replaces the editor's code (through CodeMirror's own API) and runs it with Shift+Enter
/// typed into the focused editor, as a user would.
async fn run_code(user: &Browser, code: &str) {
    user.js(&format!(
        "const cm = document.querySelector('.CodeMirror').CodeMirror; \
         cm.setValue({}); cm.focus(); cm.setCursor(cm.lineCount(), 0); \
         document.getElementById('output').dataset.run = 'pending'; return true;",
        serde_json::to_string(code).unwrap()
    ))
    .await;
    press(user, &[Key::Shift], Key::Enter).await;
}

/// Presses `key` while holding `modifiers`, in whatever element has the focus.
async fn press(user: &Browser, modifiers: &[Key], key: Key) {
    let mut keys = KeyActions::new("keyboard".into());
    for m in modifiers {
        keys = keys.then(KeyAction::Down { value: (*m).into() });
    }
    keys = keys
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    for m in modifiers.iter().rev() {
        keys = keys.then(KeyAction::Up { value: (*m).into() });
    }
    user.client.perform_actions(keys).await.unwrap();
}

/// Waits until the output area's text contains `text`.
async fn output_shows(user: &Browser, text: &str) {
    user.until(
        &format!("the output to show {text:?}"),
        &format!(
            "return document.getElementById('output').innerText.includes({})",
            serde_json::to_string(text).unwrap()
        ),
    )
    .await;
}

async fn scenario(app: &TestApp, user: &Browser) {
    let base = format!("http://{}", app.addr);
    app.signup("cell.user").await;
    // Signed out, the page sends us to sign in and comes back afterwards.
    user.goto(&format!("{base}/cell")).await;
    user.until(
        "the redirect to /login",
        "return location.pathname === '/login' && location.search.includes('next=%2Fcell')",
    )
    .await;
    user.type_into("#signin-username", "cell.user").await;
    user.type_into("#signin-password", "quiet lantern orbit mosaic")
        .await;
    user.click("#form-signin button[type=submit]").await;
    user.until(
        "the cell page with its editor",
        "return location.pathname === '/cell' && !document.getElementById('main').hidden \
         && !!document.querySelector('.CodeMirror') && document.getElementById('kernel').options.length > 0",
    )
    .await;
    // The one error so far is the 401 that sent us to sign in.
    let errors = user.console_errors(&["/api/v1/me"]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Shift+Enter runs the code; the output streams back and the run ends idle.
    // A carriage return starts the line over, as progress bars expect.
    run_code(user, "print('working', end='\\r')\nprint(6*7)").await;
    output_shows(user, "42").await;
    user.until(
        "the run to finish",
        "return document.getElementById('run-state').dataset.state === 'idle' \
         && document.getElementById('status').textContent.includes('Done')",
    )
    .await;
    assert_eq!(
        user.js("return document.querySelector('#output pre.cell-stdout').textContent")
            .await,
        json!("42\n")
    );

    // Tab indents in the editor (it does not move the focus away).
    user.js(
        "const cm = document.querySelector('.CodeMirror').CodeMirror; \
         cm.setValue('x = 1'); cm.focus(); cm.setCursor(0, 0); return true",
    )
    .await;
    press(user, &[], Key::Tab).await;
    assert_eq!(
        user.js("return document.querySelector('.CodeMirror').CodeMirror.getValue()")
            .await,
        json!("    x = 1")
    );

    // An exception shows IPython's traceback with its colours as classes, no raw escapes.
    run_code(
        user,
        "def f():\n    raise ValueError('boom <b>not bold</b>')\nf()",
    )
    .await;
    let traceback = user
        .until(
            "a traceback",
            "const e = document.querySelector('#output pre.cell-error'); \
             return e && e.textContent.includes('ValueError') ? e.textContent : null",
        )
        .await;
    let traceback = traceback.as_str().unwrap();
    assert!(
        traceback.contains("ValueError: boom <b>not bold</b>"),
        "{traceback}"
    );
    assert!(!traceback.contains('\u{1b}'), "escapes left: {traceback:?}");
    let classes = user
        .js("return [...document.querySelectorAll('#output pre.cell-error span')].map(s => s.className)")
        .await;
    let classes: Vec<&str> = classes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(classes.contains(&"ansi-red"), "{classes:?}");
    assert!(classes.contains(&"ansi-green ansi-bold"), "{classes:?}");
    assert!(
        classes.iter().any(|c| c.contains("ansi-bg-yellow")),
        "{classes:?}"
    );
    user.screenshot("cell-traceback").await;
    assert_eq!(
        user.js("return document.querySelectorAll('#output pre.cell-error b').length")
            .await,
        json!(0),
        "kernel text never becomes markup"
    );

    // A matplotlib figure arrives as a PNG and shows as an image.
    run_code(
        user,
        "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2, 3], [0, 1, 4, 9])\nplt.title('squares')\nplt.show()",
    )
    .await;
    user.until(
        "the plot as a loaded PNG",
        "const img = document.querySelector('#output img'); \
         return !!img && img.src.startsWith('data:image/png;base64,') && img.complete && img.naturalWidth > 100",
    )
    .await;

    // @interact shows a slider; moving it with the keyboard re-runs the function.
    run_code(
        user,
        "from ipywidgets import interact\n@interact(x=(0, 10))\ndef square(x=5):\n    print(f'square={x*x}')",
    )
    .await;
    user.until(
        "the interact slider and its first output",
        "const s = document.querySelector('#output input[type=range]'); \
         const o = document.querySelector('#output .widget-output'); \
         return !!s && s.value === '5' && !!o && o.innerText.includes('square=25')",
    )
    .await;
    assert_eq!(user.text("#output .widget-slider label").await, "x");
    user.js("document.querySelector('#output input[type=range]').focus(); return true")
        .await;
    press(user, &[], Key::Right).await;
    user.until(
        "the function to re-run with x=6",
        "const o = document.querySelector('#output .widget-output'); \
         return o.innerText.includes('square=36') && !o.innerText.includes('square=25')",
    )
    .await;
    assert_eq!(
        user.text("#output .widget-readout").await,
        "6",
        "the readout follows the slider"
    );

    // CodeMirror and the page run under the CSP: no <style> elements, no violations.
    assert_eq!(
        user.js("return document.querySelectorAll('style').length")
            .await,
        json!(0)
    );
    let errors = user.console_errors(&[]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    user.screenshot("cell").await;

    // Interrupt stops a long run: the kernel raises KeyboardInterrupt and goes idle.
    run_code(
        user,
        "import time\nprint('sleeping', flush=True)\ntime.sleep(60)",
    )
    .await;
    output_shows(user, "sleeping").await;
    user.click("#interrupt").await;
    user.until(
        "the KeyboardInterrupt and the end of the run",
        "const e = document.querySelector('#output pre.cell-error'); \
         return !!e && e.textContent.includes('KeyboardInterrupt') \
         && document.getElementById('run-state').dataset.state === 'idle'",
    )
    .await;

    // Files the code writes show as links to the cell's stored copies.
    run_code(user, "open('out.txt', 'w').write('hi')\nprint('written')").await;
    output_shows(user, "written").await;
    let link = user
        .until(
            "a link to out.txt",
            "const a = [...document.querySelectorAll('#output ul.cell-files a')].find(a => a.textContent === 'out.txt'); \
             return a ? a.getAttribute('href') : null",
        )
        .await;
    let file = app
        .http
        .get(format!("{base}{}", link.as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert!(file.status().is_success());
    assert_eq!(file.text().await.unwrap(), "hi");

    // The share link opens the cell with its code; running it there shows the output again.
    let share = user
        .until(
            "the share link",
            "return document.getElementById('share').hidden ? null : document.getElementById('share-url').value",
        )
        .await;
    let share = share.as_str().unwrap().to_owned();
    assert!(share.starts_with(&format!("{base}/c/")), "{share}");
    user.goto(&share).await;
    user.until(
        "the shared cell's code in the editor",
        "const e = document.querySelector('.CodeMirror'); \
         return !document.getElementById('main').hidden && !!e && e.CodeMirror.getValue().includes(\"print('written')\")",
    )
    .await;
    user.until(
        "the cell's stored files",
        "return !document.getElementById('saved-files').hidden \
         && document.getElementById('saved-files').innerText.includes('out.txt')",
    )
    .await;
    user.click("#run").await;
    output_shows(user, "written").await;
    let errors = user.console_errors(&[]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Signed out, the share link still shows the code and offers to sign in to run it.
    user.client.delete_all_cookies().await.unwrap();
    user.goto(&share).await;
    user.until(
        "the shared cell for a signed-out visitor",
        "const e = document.querySelector('.CodeMirror'); \
         return !document.getElementById('main').hidden && !!e \
         && e.CodeMirror.getValue().includes(\"print('written')\") \
         && !document.getElementById('signin').hidden && document.getElementById('run').hidden",
    )
    .await;
    let signin = user
        .js("return document.getElementById('signin').getAttribute('href')")
        .await;
    assert!(
        signin.as_str().unwrap().starts_with("/login?next=%2Fc%2F"),
        "{signin}"
    );
}
