//! The HTTP calls a device makes: accounts, tickets, batch sync.

use serde_json::{json, Value};
use std::time::Duration;

/// What `register`/`login` answer (docs/api.md `Tokens`).
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user_id: String,
    pub access_token: String,
    pub root_document_id: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `(status, JSON body)` of a JSON call.
pub fn json_call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let res = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.call()
        }
        (m, b) => {
            let mut r = agent.post(url);
            if m != "POST" {
                panic!("json_call: {m} unsupported");
            }
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.header("content-type", "application/json")
                .send(serde_json::to_vec(b.unwrap_or(&json!({}))).expect("json"))
        }
    }
    .expect("HTTP call");
    let status = res.status().as_u16();
    // Whole: ureq stops at 10 MB unless told, and a heavy learner's export
    // is larger (a body cut short would also leave the server's stream
    // unfinished).
    let text = res
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .expect("the whole body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers a fresh account and returns its tokens.
pub fn register(base: &str, email: &str, device: &str) -> (Tokens, String) {
    let password = myflashplay_client::prehash::prehash(email, "correct horse").expect("prehash");
    let (status, body) = json_call(
        "POST",
        &format!("{base}/auth/register"),
        None,
        Some(&json!({"email": email, "password": password, "device_name": device})),
    );
    assert_eq!(status, 201, "register: {body}");
    (tokens(&body), password)
}

/// Logs another device in.
pub fn login(base: &str, email: &str, password: &str, device: &str) -> Tokens {
    let (status, body) = json_call(
        "POST",
        &format!("{base}/auth/login"),
        None,
        Some(&json!({"email": email, "password": password, "device_name": device})),
    );
    assert_eq!(status, 200, "login: {body}");
    tokens(&body)
}

fn tokens(v: &Value) -> Tokens {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Tokens {
        user_id: s("user_id"),
        access_token: s("access_token"),
        root_document_id: s("root_document_id"),
    }
}

/// A single-use WebSocket ticket.
pub fn ticket(base: &str, token: &str) -> String {
    let (status, body) = json_call("POST", &format!("{base}/sync/ticket"), Some(token), None);
    assert_eq!(status, 200, "ticket: {body}");
    body["ticket"].as_str().expect("ticket").to_owned()
}

/// `POST /sync` with a CBOR batch; `(status, body bytes)`, or the
/// transport error when the server is unreachable.
pub fn try_post_sync(base: &str, token: &str, batch: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    let res = agent()
        .post(&format!("{base}/sync"))
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/cbor")
        .send(batch)
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res.into_body().read_to_vec().map_err(|e| e.to_string())?;
    Ok((status, bytes))
}
