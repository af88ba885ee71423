//! Plain HTTP on the WebSocket port, for requests that do not ask for an
//! upgrade: the handler's own routes first ([`crate::Handler::on_http`]),
//! then the built-in ones, then `404 Not Found`.
//!
//! | request        | answer                                   |
//! |----------------|------------------------------------------|
//! | `GET /health`  | `200`, `ok`                              |
//! | `GET /stats`   | `200`, the JSON of [`crate::Stats::to_json`] |
//! | anything else  | `404`, `not found`                       |
//!
//! Every answer closes the TCP connection (`Connection: close`).

use crate::handler::HttpResponse;
use crate::shared::Shared;
use rusty_socket_core::http::Request;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The answer to a plain HTTP `request`.
pub(crate) fn respond(shared: &Shared, request: &Request) -> HttpResponse {
    match catch_unwind(AssertUnwindSafe(|| shared.handler.on_http(request))) {
        Ok(Some(response)) => return response,
        Ok(None) => {}
        Err(_) => return HttpResponse::text(500, "internal server error\n"),
    }
    let get = request.method == "GET";
    match request.path() {
        "/health" if get => HttpResponse::text(200, "ok"),
        "/stats" if get => HttpResponse::json(shared.stats().to_json()),
        "/health" | "/stats" => {
            HttpResponse::text(405, "method not allowed\n").header("Allow", "GET")
        }
        _ => HttpResponse::text(404, "not found\n"),
    }
}
