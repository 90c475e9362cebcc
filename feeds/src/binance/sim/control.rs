//! The client's control requests on an open stream connection and the venue's replies:
//!
//! ```text
//! {"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}   -> {"result":null,"id":1}
//! {"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2} -> {"result":null,"id":2}
//! {"method":"LIST_SUBSCRIPTIONS","id":3}                     -> {"result":["btcusdt@trade"],"id":3}
//! {"method":"SET_PROPERTY","params":["combined",true],"id":4} -> {"result":null,"id":4}
//! {"method":"GET_PROPERTY","params":["combined"],"id":5}     -> {"result":true,"id":5}
//! anything refused                                           -> {"code":2,"msg":"Invalid request: ...","id":N}
//! ```
//!
//! Not the send path: replies are rare, so parsing uses simd-json's borrowed value.

use simd_json::prelude::*;

use crate::sim::ControlOutcome;

use super::Venue;
use super::render::{push_json_str, render_error};
use super::stream::Route;
use super::subscriptions::Subscriptions;

/// Handles one control request (`text` is the frame payload; simd-json parses it in place)
/// and appends the reply to `out`. `combined` is the connection's envelope property.
pub fn handle_control(
    venue: &Venue,
    route: Route,
    subs: &mut Subscriptions,
    combined: &mut bool,
    text: &mut [u8],
    out: &mut Vec<u8>,
) -> ControlOutcome {
    const NULL: &[u8] = b"null";
    let Ok(value) = simd_json::to_borrowed_value(text) else {
        render_error(
            out,
            3,
            "Invalid JSON: could not parse the request",
            b"",
            NULL,
        );
        return ControlOutcome::Rejected;
    };
    if value.as_object().is_none() {
        render_error(
            out,
            3,
            "Invalid JSON: the request must be an object",
            b"",
            NULL,
        );
        return ControlOutcome::Rejected;
    }
    // The id is echoed verbatim: an integer, an alphanumeric string of at most 36, or null.
    let mut id = Vec::with_capacity(40);
    match value.get("id") {
        None => id.extend_from_slice(NULL),
        Some(v) if v.is_null() => id.extend_from_slice(NULL),
        Some(v) => {
            if let Some(n) = v.as_i64() {
                id.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            } else if let Some(s) = v
                .as_str()
                .filter(|s| s.len() <= 36 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                push_json_str(&mut id, s.as_bytes());
            } else {
                render_error(
                    out,
                    2,
                    "Invalid request: 'id' must be an integer, an alphanumeric string of at most 36 characters, or null",
                    b"",
                    NULL,
                );
                return ControlOutcome::Rejected;
            }
        }
    }
    let Some(method) = value.get("method").and_then(|m| m.as_str()) else {
        render_error(out, 2, "Invalid request: missing 'method'", b"", &id);
        return ControlOutcome::Rejected;
    };
    let params = value.get("params").and_then(|p| p.as_array());
    let strings: Option<Vec<&str>> = params.map(|p| p.iter().filter_map(|v| v.as_str()).collect());
    let all_strings = matches!((params, &strings), (Some(p), Some(s)) if p.len() == s.len());
    match method {
        "SUBSCRIBE" | "UNSUBSCRIBE" => {
            let subscribe = method == "SUBSCRIBE";
            let names = match strings {
                Some(names) if all_strings && !names.is_empty() => names,
                _ => {
                    render_error(
                        out,
                        2,
                        "Invalid request: 'params' must be a non-empty list of stream names",
                        b"",
                        &id,
                    );
                    return ControlOutcome::Rejected;
                }
            };
            if let Err((e, name)) = subs.apply(venue, route, &names, subscribe) {
                let mut detail = Vec::with_capacity(name.len() + 48);
                detail.extend_from_slice(e.to_string().as_bytes());
                detail.extend_from_slice(b": ");
                detail.extend_from_slice(name.as_bytes());
                render_error(out, 2, "Invalid request: ", &detail, &id);
                return ControlOutcome::Rejected;
            }
            push_result(out, NULL, &id);
            if subscribe {
                ControlOutcome::Subscribed
            } else {
                ControlOutcome::Unsubscribed
            }
        }
        "LIST_SUBSCRIPTIONS" => {
            let mut list = Vec::with_capacity(2 + subs.len() * 24);
            list.push(b'[');
            for (i, (sym, kind)) in subs.iter().enumerate() {
                if i > 0 {
                    list.push(b',');
                }
                list.push(b'"');
                list.extend_from_slice(venue.lower_names()[sym].as_bytes());
                list.push(b'@');
                list.extend_from_slice(kind.suffix().as_bytes());
                list.push(b'"');
            }
            list.push(b']');
            push_result(out, &list, &id);
            ControlOutcome::Listed
        }
        "SET_PROPERTY" | "GET_PROPERTY" => {
            let p = params.map(|p| p.as_slice()).unwrap_or(&[]);
            if p.first().and_then(|v| v.as_str()) != Some("combined") {
                render_error(out, 0, "Unknown property", b"", &id);
                return ControlOutcome::Rejected;
            }
            if method == "GET_PROPERTY" {
                push_result(out, if *combined { b"true" } else { b"false" }, &id);
                return ControlOutcome::Property;
            }
            match p.get(1).and_then(|v| v.as_bool()) {
                Some(b) if p.len() == 2 => {
                    *combined = b;
                    push_result(out, NULL, &id);
                    ControlOutcome::Property
                }
                _ => {
                    render_error(out, 1, "Invalid value type: expected Boolean", b"", &id);
                    ControlOutcome::Rejected
                }
            }
        }
        _ => {
            let mut detail = Vec::with_capacity(method.len() + 16);
            detail.extend_from_slice(b"unknown method ");
            detail.extend_from_slice(method.as_bytes());
            render_error(out, 2, "Invalid request: ", &detail, &id);
            ControlOutcome::Rejected
        }
    }
}

/// Appends `{"result":<result>,"id":<id>}`.
fn push_result(out: &mut Vec<u8>, result: &[u8], id: &[u8]) {
    out.extend_from_slice(b"{\"result\":");
    out.extend_from_slice(result);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id);
    out.push(b'}');
}
