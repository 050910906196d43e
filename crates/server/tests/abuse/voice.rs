//! Voice questions under attack: no token, another account's snapshots, bodies that are
//! not WAV or not the format recognized, too large, too long or endless, and more questions
//! at once than the node recognizes.

use crate::expect::{expect_error, expect_error_with_extra, message};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::AccountId;
use switchboard_store::{NewSnapshot, SnapshotState, StoredDetection};
use switchboard_voice::speech::{VOICES, synthesize};
use switchboard_voice::wav;
use uuid::Uuid;

fn speak(text: &str) -> Vec<u8> {
    synthesize(text, VOICES[0]).unwrap_or_else(|e| {
        panic!("cannot make a spoken question ({e}); the voice tests need: apt-get install espeak-ng ffmpeg")
    })
}

async fn post(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url("/search/voice"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn assert_voice_on(app: &TestApp, token: &str) {
    let status: Value = app
        .http
        .get(app.url("/search/voice"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["available"], true,
        "PocketSphinx is needed for the voice tests (apt-get install libpocketsphinx3 \
         pocketsphinx-en-us): {status}"
    );
}

/// A WAV header declaring `tag`, `channels`, `rate` and `bits`, and `data` bytes of zeros.
fn wav_declaring(tag: u16, channels: u16, rate: u32, bits: u16, data: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
    out.extend_from_slice(&(channels * bits / 8).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&u32::try_from(data).unwrap().to_le_bytes());
    out.extend(std::iter::repeat_n(0u8, data));
    out
}

#[tokio::test]
async fn voice_questions_need_a_signed_in_user() {
    let app = spawn_app().await;
    for resp in [
        app.http
            .post(app.url("/search/voice"))
            .header("content-type", "audio/wav")
            .body(speak("where is my phone"))
            .send()
            .await
            .unwrap(),
        app.http.get(app.url("/search/voice")).send().await.unwrap(),
        app.http
            .post(app.url("/search/voice"))
            .bearer_auth("not-a-token")
            .header("content-type", "audio/wav")
            .body(wav::encode(&[0; 10]))
            .send()
            .await
            .unwrap(),
    ] {
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_spoken_question_searches_only_the_askers_account() {
    let app = spawn_app().await;
    let alice = app.signup("alice-voice").await;
    let mallory = app.signup("mallory-voice").await;
    assert_voice_on(&app, &mallory).await;
    let (alice_camera, _) = app.create_camera(&alice, "alice's hall").await;
    // A snapshot of Alice's in which a bus was detected, through the store (the boundary
    // is the search's, not the detector's).
    let account: AccountId = app.me(&alice).await["account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    let picture = crate::helpers::jpeg(1).to_vec();
    app.store
        .insert_snapshot(&NewSnapshot {
            id,
            camera_id: alice_camera.parse().unwrap(),
            account_id: account,
            taken_at: now,
            received_at: now,
            size: picture.len() as u64,
            jpeg: picture,
            key_version: None,
        })
        .await
        .unwrap();
    let bus = StoredDetection {
        label: "bus".into(),
        confidence: 0.9,
        x: 0.1,
        y: 0.1,
        w: 0.5,
        h: 0.5,
    };
    app.store
        .finish_snapshot(id, SnapshotState::Done, &[bus], None, None)
        .await
        .unwrap();
    // Alice asking finds it, so the question is one that would.
    let question = speak("where is the bus");
    let hers: Value = post(&app, &alice, "audio/wav", question.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hers["results"][0]["snapshot_id"], id.to_string(), "{hers}");
    let answer: Value = post(&app, &mallory, "audio/wav", question.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["labels"], json!(["bus"]), "{answer}");
    assert_eq!(answer["results"], json!([]), "{answer}");
    // Naming Alice's camera finds nothing either.
    let resp = app
        .http
        .post(app.url(&format!("/search/voice?camera={alice_camera}")))
        .bearer_auth(&mallory)
        .header("content-type", "audio/wav")
        .body(question)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["results"], json!([]));
}

#[tokio::test]
async fn only_wav_is_taken_and_other_formats_are_named_with_what_is_expected() {
    let app = spawn_app().await;
    let user = app.signup("format-prober").await;
    assert_voice_on(&app, &user).await;
    let question = speak("where is my phone");

    // Declared as something else: 415 before the body is looked at.
    for ct in [
        "text/plain",
        "image/jpeg",
        "application/json",
        "audio/mpeg",
        "",
    ] {
        let resp = post(&app, &user, ct, question.clone()).await;
        let body = expect_error(
            resp,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert!(message(&body).contains("audio/wav"), "{ct}: {body}");
    }
    // Declared as WAV, but not one: 415 saying what a question must be.
    for not_wav in [
        Vec::new(),
        b"RIFF".to_vec(),
        crate::helpers::jpeg(3).to_vec(),
        b"RIFF\x24\0\0\0WAVEdata\0\0\0\0".to_vec(),
        vec![0x55; 4096],
    ] {
        let body = expect_error(
            post(&app, &user, "audio/wav", not_wav).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert!(
            message(&body).contains("16000 Hz, mono, 16-bit PCM"),
            "{body}"
        );
    }
    // WAV of another format: 422, naming what it is and what is expected.
    for (recording, found) in [
        (wav_declaring(1, 1, 44_100, 16, 4410), "44100 Hz"),
        (wav_declaring(1, 1, 8_000, 16, 800), "8000 Hz"),
        (wav_declaring(1, 2, 16_000, 16, 6400), "stereo"),
        (wav_declaring(1, 1, 16_000, 8, 1600), "8-bit"),
        (wav_declaring(3, 1, 16_000, 32, 6400), "floating point"),
        (wav_declaring(7, 1, 16_000, 8, 1600), "µ-law"),
    ] {
        let body = expect_error(
            post(&app, &user, "audio/wav", recording).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_audio",
        )
        .await;
        assert!(message(&body).contains(found), "{found}: {body}");
        assert!(
            message(&body).contains("16000 Hz, mono (1 channel), 16-bit PCM"),
            "{body}"
        );
    }
    // A type with parameters, in capitals, is still WAV.
    let resp = post(&app, &user, "Audio/WAV; codecs=1", question).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn too_long_too_large_and_endless_recordings_are_refused() {
    let app = spawn_app_with(|c| {
        c.cameras.voice_max_duration = std::time::Duration::from_secs(3);
        c.cameras.voice_max_bytes = bytesize::ByteSize::kib(160);
    })
    .await;
    let user = app.signup("rambler").await;
    assert_voice_on(&app, &user).await;

    // Four seconds (128 KB, within the size): too long.
    let body = expect_error(
        post(&app, &user, "audio/wav", wav::encode(&vec![100; 64_000])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "audio_too_long",
    )
    .await;
    assert!(message(&body).contains("4.0 s"), "{body}");
    assert!(message(&body).contains("3.0 s"), "{body}");
    // A header claiming a day of audio is not believed: what counts is what was sent.
    let mut day = wav::encode(&[1; 100]);
    day[40..44].copy_from_slice(&(86_400u32 * 32_000).to_le_bytes());
    let answer: Value = post(&app, &user, "audio/wav", day)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["transcript"], "", "{answer}");
    // Three seconds of silence is within both bounds.
    assert_eq!(
        post(&app, &user, "audio/wav", wav::encode(&vec![0; 48_000]))
            .await
            .status(),
        StatusCode::OK
    );

    // Past the size: 413, whether the length is declared or the body just goes on.
    let body = expect_error(
        post(&app, &user, "audio/wav", vec![0; 200 * 1024]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "audio_too_large",
    )
    .await;
    assert!(message(&body).contains(&(160 * 1024).to_string()), "{body}");
    let endless = futures::stream::iter(
        std::iter::once(Bytes::from(wav::encode(&[])))
            .chain(std::iter::repeat_n(Bytes::from(vec![0u8; 16 * 1024]), 4096))
            .map(Ok::<Bytes, std::io::Error>),
    );
    let resp = app
        .http
        .post(app.url("/search/voice"))
        .bearer_auth(&user)
        .header("content-type", "audio/wav")
        .body(reqwest::Body::wrap_stream(endless))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "audio_too_large").await;
}

#[tokio::test]
async fn questions_past_the_recognizers_answer_busy_and_none_is_lost() {
    let app = spawn_app_with(|c| c.cameras.voice_workers = 1).await;
    let user = app.signup("crowd").await;
    assert_voice_on(&app, &user).await;
    let question = speak("where is my phone");

    // Every recognizer taken: the next question is refused at once, and says when to retry.
    let held = app.app.voice.engine().place().unwrap();
    let resp = post(&app, &user, "audio/wav", question.clone()).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    expect_error_with_extra(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    drop(held);
    let answer: Value = post(&app, &user, "audio/wav", question.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["labels"], json!(["cell phone"]), "{answer}");

    // Many at once: each is answered, heard right or refused busy; none fails otherwise.
    let asks = (0..8).map(|_| post(&app, &user, "audio/wav", question.clone()));
    let answers = futures::future::join_all(asks).await;
    let mut heard = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::OK => {
                let answer: Value = resp.json().await.unwrap();
                assert_eq!(answer["labels"], json!(["cell phone"]), "{answer}");
                heard += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(resp.headers()["retry-after"], "1");
                expect_error_with_extra(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
            }
            other => panic!("unexpected {other}: {}", resp.text().await.unwrap()),
        }
    }
    assert!(heard >= 1, "at least one question gets through");
}
