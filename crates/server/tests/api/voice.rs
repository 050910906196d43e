//! Voice questions: spoken by espeak-ng, recognized by the real PocketSphinx, searched like
//! typed ones. Nothing is skipped: without espeak-ng, ffmpeg or PocketSphinx these tests
//! fail and name the packages (scripts/test installs them).

use crate::cameras::{bus_jpg, with_detector};
use crate::expect::expect_error;
use crate::helpers::{PATIENCE, TestApp, eventually, holds, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use switchboard_voice::speech::{VOICES, synthesize};
use switchboard_voice::wav;

/// `text` spoken by espeak-ng's `voice`, as a 16 kHz mono 16-bit WAV.
pub(crate) fn speak(text: &str, voice: &str) -> Vec<u8> {
    synthesize(text, voice).unwrap_or_else(|e| {
        panic!("cannot make a spoken question ({e}); the voice tests need: apt-get install espeak-ng ffmpeg")
    })
}

/// Asserts the node found PocketSphinx and its model.
pub(crate) async fn assert_voice_on(app: &TestApp, token: &str) {
    let status = voice_status(app, token).await;
    assert_eq!(
        status["available"], true,
        "PocketSphinx is needed for the voice tests (apt-get install libpocketsphinx3 \
         pocketsphinx-en-us): {status}"
    );
}

pub(crate) async fn voice_status(app: &TestApp, token: &str) -> Value {
    let resp = app
        .http
        .get(app.url("/search/voice"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

pub(crate) async fn ask(app: &TestApp, token: &str, recording: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url("/search/voice"))
        .bearer_auth(token)
        .header("content-type", "audio/wav")
        .body(recording)
        .send()
        .await
        .unwrap()
}

async fn ask_ok(app: &TestApp, token: &str, recording: Vec<u8>) -> Value {
    let resp = ask(app, token, recording).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Questions about fourteen different things, and the label each must be searched as.
const QUESTIONS: &[(&str, &str)] = &[
    ("where is my phone", "cell phone"),
    ("where did I leave my laptop", "laptop"),
    ("where is the dog", "dog"),
    ("find the cat", "cat"),
    ("where is my bottle", "bottle"),
    ("where is the chair", "chair"),
    ("show me the person", "person"),
    ("where is my umbrella", "umbrella"),
    ("find my bicycle", "bicycle"),
    ("where is my backpack", "backpack"),
    ("where is the clock", "clock"),
    ("find the keyboard", "keyboard"),
    ("where is my suitcase", "suitcase"),
    ("where did I put my mug", "cup"),
];

#[tokio::test]
async fn spoken_questions_are_searched_as_the_things_asked_for_in_two_voices() {
    let app = spawn_app().await;
    let user = app.signup("voice-asker").await;
    assert_voice_on(&app, &user).await;
    let mut wrong = Vec::new();
    for voice in VOICES {
        for (text, label) in QUESTIONS {
            let answer = ask_ok(&app, &user, speak(text, voice)).await;
            if answer["labels"] != json!([label]) {
                wrong.push(format!(
                    "{voice} said {text:?}, heard {} → {}",
                    answer["transcript"], answer["labels"]
                ));
                continue;
            }
            // The answer is a search's, with what was heard on top.
            assert!(answer["transcript"].as_str().unwrap().len() > 1, "{answer}");
            assert_eq!(answer["results"], json!([]), "{answer}");
            assert!(answer["known_labels"].as_array().unwrap().len() >= 80);
            assert!(answer.get("message").is_none(), "{answer}");
        }
    }
    assert!(wrong.is_empty(), "misheard:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn asking_where_the_bus_is_finds_the_uploaded_snapshot() {
    let app = spawn_app_with(with_detector).await;
    let user = app.signup("bus-spotter").await;
    assert_voice_on(&app, &user).await;
    let (camera, token) = app.create_camera(&user, "street").await;
    let uploaded: Value = app
        .http
        .post(app.url(&format!("/cameras/{camera}/snapshots")))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(bus_jpg())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uploaded["state"], "done", "{uploaded}");

    // Each voice asks in a way it is heard right in (the benchmark reports the rest).
    for (voice, question) in [
        ("en-us", "where is the bus"),
        ("en-us+f3", "show me the bus"),
    ] {
        let answer = ask_ok(&app, &user, speak(question, voice)).await;
        assert_eq!(answer["transcript"], question, "{answer}");
        assert_eq!(answer["labels"], json!(["bus"]), "{answer}");
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{answer}");
        assert_eq!(results[0]["snapshot_id"], uploaded["id"]);
        assert_eq!(results[0]["label"], "bus");
        assert_eq!(results[0]["camera"]["name"], "street");
    }

    // Bounds are those of the typed search: another camera shows nothing.
    let (other, _) = app.create_camera(&user, "garden").await;
    let resp = app
        .http
        .post(app.url(&format!("/search/voice?camera={other}&limit=5")))
        .bearer_auth(&user)
        .header("content-type", "audio/x-wav")
        .body(speak("where is the bus", VOICES[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["labels"], json!(["bus"]));
    assert_eq!(answer["results"], json!([]));

    // The search is on the audit trail as spoken, with what was heard.
    let record = eventually("the spoken search is on record", PATIENCE, || async {
        let page: Value = app
            .http
            .get(app.url("/audit?action=camera.searched&limit=50"))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = page["records"].as_array().cloned().unwrap_or_default();
        let spoken: Vec<Value> = records
            .into_iter()
            .filter(|r| r["detail"]["spoken"] == true)
            .collect();
        holds(spoken.len() == 3, &page)?;
        Ok(spoken[spoken.len() - 1].clone())
    })
    .await;
    assert_eq!(record["detail"]["question"], "where is the bus", "{record}");
}

#[tokio::test]
async fn a_thing_the_detector_cannot_see_is_heard_as_asked_and_reported_unknown() {
    let app = spawn_app().await;
    let user = app.signup("key-loser").await;
    assert_voice_on(&app, &user).await;
    for voice in VOICES {
        let answer = ask_ok(&app, &user, speak("where are my keys", voice)).await;
        assert_eq!(answer["labels"], json!([]), "{answer}");
        assert_eq!(answer["unknown"], json!(["keys"]), "{answer}");
        assert_eq!(answer["results"], json!([]), "{answer}");
    }
}

#[tokio::test]
async fn silence_and_empty_recordings_answer_an_empty_transcript_with_a_message() {
    let app = spawn_app().await;
    let user = app.signup("quiet-one").await;
    assert_voice_on(&app, &user).await;
    let second_of_silence = wav::encode(&[0; 16_000]);
    // A quiet room: noise well under speech, still below the silence bound.
    let hum: Vec<i16> = (0..16_000).map(|i| ((i % 40) as i16 - 20) * 10).collect();
    for recording in [second_of_silence, wav::encode(&[]), wav::encode(&hum)] {
        let answer = ask_ok(&app, &user, recording).await;
        assert_eq!(answer["transcript"], "", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("no question was heard"),
            "{answer}"
        );
        assert_eq!(answer["labels"], json!([]));
        assert_eq!(answer["results"], json!([]));
    }
}

#[tokio::test]
async fn the_voice_status_says_which_library_and_model_were_found() {
    let app = spawn_app().await;
    let user = app.signup("status-reader").await;
    let status = voice_status(&app, &user).await;
    assert_eq!(status["available"], true, "{status}");
    assert!(
        status["library"]
            .as_str()
            .unwrap()
            .contains("libpocketsphinx"),
        "{status}"
    );
    assert!(
        status["model"].as_str().unwrap().contains("found by"),
        "{status}"
    );
    assert!(status.get("off_because").is_none(), "{status}");
}

#[tokio::test]
async fn without_pocketsphinx_voice_questions_say_what_to_install_and_the_rest_works() {
    let missing_library = |c: &mut switchboard_server::Config| {
        c.cameras.voice_library = Some(PathBuf::from("/nonexistent/libpocketsphinx.so.3"));
    };
    let empty = tempfile::tempdir().unwrap();
    let empty_path = empty.path().to_owned();
    let missing_model = move |c: &mut switchboard_server::Config| {
        c.cameras.voice_model = Some(empty_path.clone());
    };
    let apps = [
        spawn_app_with(missing_library).await,
        spawn_app_with(missing_model).await,
    ];
    for app in &apps {
        let user = app.signup("no-voice").await;
        let status = voice_status(app, &user).await;
        assert_eq!(status["available"], false, "{status}");
        let why = status["off_because"].as_str().unwrap();
        assert!(
            why.contains("libpocketsphinx3 pocketsphinx-en-us"),
            "{status}"
        );

        let body = expect_error(
            ask(app, &user, speak("where is my phone", VOICES[0])).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "voice_unavailable",
        )
        .await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("apt-get install libpocketsphinx3 pocketsphinx-en-us"),
            "{body}"
        );

        // Typed search and the cameras are untouched.
        let typed = app
            .http
            .get(app.url("/search?q=where+is+my+phone"))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(typed.status(), StatusCode::OK);
        let cameras = app
            .http
            .get(app.url("/cameras"))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(cameras.status(), StatusCode::OK);
    }
}
