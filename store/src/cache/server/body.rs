//! Reading request bodies with limits: the small ones (narinfos, existence
//! queries) whole, at most a size, each piece within an idle time and all of
//! it within a deadline; a client that sends a request head and then trickles
//! (or never finishes) its body would otherwise hold its connection and the
//! pieces buffered so far for as long as it liked (third attack pass).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::StreamExt as _;

use super::text;

/// The body, or the answer to send instead (413 or 408).
pub(super) async fn read_small(
    body: Body,
    limit: usize,
    idle: Duration,
    deadline: Duration,
) -> Result<Vec<u8>, Response> {
    let end = Instant::now() + deadline;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(idle.min(left), stream.next()).await;
        let Ok(next) = next else {
            return Err(text(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            ));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                format!("request body broke off: {e}\n"),
            )
        })?;
        if out.len() + chunk.len() > limit {
            return Err(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a request body here may hold at most {limit} bytes\n"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The least an upload must bring per window, or it is dropped: with only an
/// idle timeout, a byte a minute would keep a 16 GiB upload going for ever.
#[derive(Debug)]
pub(super) struct UploadPace {
    window_start: Instant,
    in_window: u64,
}

/// 64 KiB a minute, as for downloads from caches.
const PACE_BYTES: u64 = 64 << 10;
const PACE_WINDOW: Duration = Duration::from_secs(60);

impl UploadPace {
    pub(super) fn new() -> UploadPace {
        UploadPace {
            window_start: Instant::now(),
            in_window: 0,
        }
    }

    /// Counts `n` bytes; false once a whole window brought too little.
    pub(super) fn keeps_up(&mut self, n: u64) -> bool {
        self.in_window += n;
        if self.window_start.elapsed() < PACE_WINDOW {
            return true;
        }
        let ok = self.in_window >= PACE_BYTES;
        self.window_start = Instant::now();
        self.in_window = 0;
        ok
    }
}
