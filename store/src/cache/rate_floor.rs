//! A floor under a download's rate: a cache that trickles a NAR (a byte
//! every few seconds keeps every read timeout happy) would otherwise hold a
//! substitution, and the build waiting for it, for as long as it likes.
//! Nix has only `stalled-download-timeout`; a size-proportional deadline
//! needs the size from the same untrusted narinfo, so the floor is on the
//! rate instead: each window must bring at least a minimum of bytes.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The least a download must bring per window, and the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFloor {
    pub min_bytes: u64,
    pub window: Duration,
}

impl Default for RateFloor {
    /// 64 KiB a minute (about 1 KiB/s): far below any real link, far above
    /// a trickle.
    fn default() -> RateFloor {
        RateFloor {
            min_bytes: 64 << 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Yields what `inner` yields, and fails with [`io::ErrorKind::TimedOut`]
/// once a window ends with less than the floor received in it. The check
/// runs at each read, so it relies on the transport's read timeout to
/// return from a read that gets nothing at all.
pub struct FloorReader<R> {
    inner: R,
    floor: RateFloor,
    window_start: Instant,
    in_window: u64,
}

impl<R: Read> FloorReader<R> {
    pub fn new(inner: R, floor: RateFloor) -> FloorReader<R> {
        FloorReader {
            inner,
            floor,
            window_start: Instant::now(),
            in_window: 0,
        }
    }
}

impl<R: Read> Read for FloorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.in_window += n as u64;
        // The end of the stream is not judged: a short tail is fine.
        if n > 0 && self.window_start.elapsed() >= self.floor.window {
            if self.in_window < self.floor.min_bytes {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "download too slow: {} bytes in {:?}, the least accepted is {}",
                        self.in_window, self.floor.window, self.floor.min_bytes
                    ),
                ));
            }
            self.window_start = Instant::now();
            self.in_window = 0;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields one byte per read, after a pause.
    struct Trickle {
        left: usize,
        pause: Duration,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 || buf.is_empty() {
                return Ok(0);
            }
            std::thread::sleep(self.pause);
            self.left -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_fails_after_a_window() {
        let floor = RateFloor {
            min_bytes: 100,
            window: Duration::from_millis(200),
        };
        let inner = Trickle {
            left: 1000,
            pause: Duration::from_millis(20),
        };
        let start = Instant::now();
        let mut out = Vec::new();
        let e = FloorReader::new(inner, floor)
            .read_to_end(&mut out)
            .expect_err("too slow");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("too slow"), "{e}");
        assert!(out.len() < 20, "stopped after one window: {}", out.len());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_fast_stream_and_a_short_tail_pass() {
        let floor = RateFloor {
            min_bytes: 100,
            window: Duration::from_millis(50),
        };
        let data = vec![7u8; 1 << 20];
        let mut out = Vec::new();
        FloorReader::new(&data[..], floor)
            .read_to_end(&mut out)
            .expect("fast");
        assert_eq!(out, data);
        // A few slow bytes that end within the first window are not judged.
        let inner = Trickle {
            left: 3,
            pause: Duration::from_millis(10),
        };
        let slow = RateFloor {
            min_bytes: 100,
            window: Duration::from_secs(5),
        };
        let mut out = Vec::new();
        FloorReader::new(inner, slow)
            .read_to_end(&mut out)
            .expect("short");
        assert_eq!(out, b"xxx");
    }
}
