//! Guest logs: the `log` import of both ABIs and WASI stdout/stderr, collected per execution
//! into a bounded book. A guest that prints in a loop fills the book, then its further records are
//! counted as dropped; it never traps and never grows the host's memory without bound.
//!
//! Guest events (`probe:runtime/events`, `probe.event_emit`) pass through the same book: they go
//! to the live listener only, bounded the same way, and in order with the logs.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
  Trace,
  Debug,
  Info,
  Warn,
  Error,
}

impl Level {
  /// The core ABI's numbering (0..4). Anything else is a guest bug; it is logged at `warn` with
  /// the bad level named, rather than trapping a probe over a log line.
  pub fn from_abi(level: i32) -> Result<Level, i32> {
    Ok(match level {
      0 => Level::Trace,
      1 => Level::Debug,
      2 => Level::Info,
      3 => Level::Warn,
      4 => Level::Error,
      other => return Err(other),
    })
  }

  pub fn as_str(self) -> &'static str {
    match self {
      Level::Trace => "trace",
      Level::Debug => "debug",
      Level::Info => "info",
      Level::Warn => "warn",
      Level::Error => "error",
    }
  }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
  Guest,
  Stdout,
  Stderr,
}

impl Source {
  pub fn as_str(self) -> &'static str {
    match self {
      Source::Guest => "guest",
      Source::Stdout => "stdout",
      Source::Stderr => "stderr",
    }
  }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
  pub level: Level,
  pub message: String,
  /// Milliseconds since the Unix epoch.
  pub timestamp: f64,
  pub source: Source,
}

/// Bounds of one execution's log book.
pub const MAX_RECORDS: usize = 1000;
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Receives each record as it is written (the JavaScript `onLog` / `log` listeners).
pub type LiveLogs = Arc<dyn Fn(&LogRecord) + Send + Sync>;

/// An event a guest emitted: a name and JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestEvent {
  pub name: String,
  /// JSON text (checked).
  pub data: String,
  /// Milliseconds since the Unix epoch.
  pub timestamp: f64,
}

/// Receives each event as it is emitted (the JavaScript `onEvent`).
pub type LiveEvents = Arc<dyn Fn(&GuestEvent) + Send + Sync>;

/// Bounds of one execution's events.
pub const MAX_EVENTS: usize = 1000;
pub const MAX_EVENT_TOTAL_BYTES: usize = 1024 * 1024;
pub const MAX_EVENT_NAME_BYTES: usize = 256;

#[derive(Default)]
pub struct LogBook {
  live: Option<LiveLogs>,
  live_events: Option<LiveEvents>,
  events: usize,
  event_bytes: usize,
  events_dropped: u64,
  records: Vec<LogRecord>,
  bytes: usize,
  dropped: u64,
  partial_stdout: Vec<u8>,
  partial_stderr: Vec<u8>,
}

fn now_ms() -> f64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| d.as_secs_f64() * 1000.0)
    .unwrap_or(0.0)
}

fn truncate_utf8(text: &mut String, max: usize) {
  if text.len() > max {
    let mut cut = max;
    while !text.is_char_boundary(cut) {
      cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
  }
}

impl LogBook {
  pub fn push(&mut self, level: Level, source: Source, bytes: &[u8]) {
    let mut message = String::from_utf8_lossy(bytes).into_owned();
    truncate_utf8(&mut message, MAX_MESSAGE_BYTES);
    if self.records.len() >= MAX_RECORDS || self.bytes + message.len() > MAX_TOTAL_BYTES {
      self.dropped += 1;
      return;
    }
    self.bytes += message.len();
    self.record(LogRecord {
      level,
      message,
      timestamp: now_ms(),
      source,
    });
  }

  fn record(&mut self, record: LogRecord) {
    if let Some(live) = &self.live {
      live(&record);
    }
    self.records.push(record);
  }

  /// Bytes a guest wrote to stdout or stderr: every complete line becomes a record.
  pub fn write_stream(&mut self, source: Source, bytes: &[u8]) {
    let level = if source == Source::Stderr {
      Level::Error
    } else {
      Level::Info
    };
    let mut partial = std::mem::take(match source {
      Source::Stderr => &mut self.partial_stderr,
      _ => &mut self.partial_stdout,
    });
    for &b in bytes {
      if b == b'\n' {
        let line = partial.strip_suffix(b"\r").unwrap_or(&partial);
        self.push(level, source, line);
        partial.clear();
      } else if partial.len() < MAX_MESSAGE_BYTES {
        partial.push(b);
      }
    }
    *match source {
      Source::Stderr => &mut self.partial_stderr,
      _ => &mut self.partial_stdout,
    } = partial;
  }

  /// An event the guest emitted: to the live listener, if the bounds allow. A bad name or data
  /// that is not JSON is reported as a warning record instead.
  pub fn emit(&mut self, name: &[u8], data: &[u8]) {
    let name = match std::str::from_utf8(name) {
      Ok(n) if !n.is_empty() && n.len() <= MAX_EVENT_NAME_BYTES => n.to_string(),
      _ => {
        let shown = String::from_utf8_lossy(&name[..name.len().min(64)]).into_owned();
        let why = format!("an event was dropped: its name {shown:?} is not 1 to {MAX_EVENT_NAME_BYTES} bytes of UTF-8");
        return self.push(Level::Warn, Source::Guest, why.as_bytes());
      }
    };
    let data = match std::str::from_utf8(data) {
      Ok("") => "null".to_string(),
      Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => text.to_string(),
      _ => {
        let why = format!("event \"{name}\" was dropped: its data is not JSON text");
        return self.push(Level::Warn, Source::Guest, why.as_bytes());
      }
    };
    let size = name.len() + data.len();
    if self.events >= MAX_EVENTS || self.event_bytes + size > MAX_EVENT_TOTAL_BYTES {
      self.events_dropped += 1;
      return;
    }
    self.events += 1;
    self.event_bytes += size;
    if let Some(live) = &self.live_events {
      live(&GuestEvent {
        name,
        data,
        timestamp: now_ms(),
      });
    }
  }

  /// Empties the book for the next call of a long-lived instance, with that call's listeners.
  pub fn reset(&mut self, live: Option<LiveLogs>, live_events: Option<LiveEvents>) {
    *self = LogBook {
      live,
      live_events,
      ..LogBook::default()
    };
  }

  /// Flushes unterminated stdout/stderr lines and reports what was dropped; returns every record.
  pub fn finish(&mut self) -> Vec<LogRecord> {
    for source in [Source::Stdout, Source::Stderr] {
      let rest = std::mem::take(match source {
        Source::Stderr => &mut self.partial_stderr,
        _ => &mut self.partial_stdout,
      });
      if !rest.is_empty() {
        let level = if source == Source::Stderr {
          Level::Error
        } else {
          Level::Info
        };
        self.push(level, source, &rest);
      }
    }
    if self.dropped > 0 {
      self.record(LogRecord {
        level: Level::Warn,
        message: format!(
          "{} log records dropped: an execution keeps at most {MAX_RECORDS} records and {MAX_TOTAL_BYTES} bytes",
          self.dropped
        ),
        timestamp: now_ms(),
        source: Source::Guest,
      });
    }
    if self.events_dropped > 0 {
      self.record(LogRecord {
        level: Level::Warn,
        message: format!(
          "{} events dropped: an execution emits at most {MAX_EVENTS} events and {MAX_EVENT_TOTAL_BYTES} bytes of event data",
          self.events_dropped
        ),
        timestamp: now_ms(),
        source: Source::Guest,
      });
    }
    self.bytes = 0;
    self.dropped = 0;
    self.events = 0;
    self.event_bytes = 0;
    self.events_dropped = 0;
    std::mem::take(&mut self.records)
  }
}

/// A shared handle on one execution's log book.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<LogBook>>);

impl Logs {
  pub fn new(live: Option<LiveLogs>, live_events: Option<LiveEvents>) -> Logs {
    Logs(Arc::new(Mutex::new(LogBook {
      live,
      live_events,
      ..LogBook::default()
    })))
  }

  pub fn book(&self) -> MutexGuard<'_, LogBook> {
    self.0.lock().unwrap_or_else(|p| p.into_inner())
  }

  pub fn stream(&self, source: Source) -> LogStream {
    LogStream {
      logs: self.clone(),
      source,
    }
  }
}

/// WASI stdout or stderr of one execution, writing into its log book. Always ready, never full.
#[derive(Clone)]
pub struct LogStream {
  logs: Logs,
  source: Source,
}

impl IsTerminal for LogStream {
  fn is_terminal(&self) -> bool {
    false
  }
}

impl StdoutStream for LogStream {
  fn p2_stream(&self) -> Box<dyn OutputStream> {
    Box::new(self.clone())
  }

  fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
    Box::new(self.clone())
  }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogStream {
  fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
    self.logs.book().write_stream(self.source, &bytes);
    Ok(())
  }

  fn flush(&mut self) -> StreamResult<()> {
    Ok(())
  }

  fn check_write(&mut self) -> StreamResult<usize> {
    Ok(64 * 1024)
  }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
  async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
  fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
    self.logs.book().write_stream(self.source, buf);
    Poll::Ready(Ok(buf.len()))
  }

  fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    Poll::Ready(Ok(()))
  }

  fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    Poll::Ready(Ok(()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn stream_bytes_become_lines() {
    let mut book = LogBook::default();
    book.write_stream(Source::Stdout, b"hello\nwor");
    book.write_stream(Source::Stdout, b"ld\r\n");
    book.write_stream(Source::Stderr, b"oops");
    let records = book.finish();
    let texts: Vec<_> = records
      .iter()
      .map(|r| (r.source, r.level, r.message.as_str()))
      .collect();
    assert_eq!(
      texts,
      vec![
        (Source::Stdout, Level::Info, "hello"),
        (Source::Stdout, Level::Info, "world"),
        (Source::Stderr, Level::Error, "oops"),
      ]
    );
  }

  #[test]
  fn book_is_bounded_and_reports_drops() {
    let mut book = LogBook::default();
    for i in 0..(MAX_RECORDS + 50) {
      book.push(Level::Info, Source::Guest, format!("line {i}").as_bytes());
    }
    let records = book.finish();
    assert_eq!(records.len(), MAX_RECORDS + 1);
    let last = records.last().unwrap();
    assert_eq!(last.level, Level::Warn);
    assert!(last.message.starts_with("50 log records dropped"), "{}", last.message);
  }

  #[test]
  fn long_messages_are_cut_on_a_char_boundary() {
    let mut book = LogBook::default();
    let long = "é".repeat(MAX_MESSAGE_BYTES);
    book.push(Level::Info, Source::Guest, long.as_bytes());
    let records = book.finish();
    assert!(records[0].message.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
    assert!(records[0].message.ends_with('…'));
  }

  #[test]
  fn events_are_checked_bounded_and_live() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut book = LogBook::default();
    book.reset(
      None,
      Some(Arc::new(move |e: &GuestEvent| sink.lock().unwrap().push(e.clone()))),
    );
    book.emit(b"loading", b"{\"file\":\"a.ts\"}");
    book.emit(b"empty", b"");
    book.emit(b"bad", b"{not json");
    book.emit(b"", b"1");
    for _ in 0..MAX_EVENTS {
      book.emit(b"tick", b"1");
    }
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), MAX_EVENTS);
    assert_eq!(
      (events[0].name.as_str(), events[0].data.as_str()),
      ("loading", "{\"file\":\"a.ts\"}")
    );
    assert_eq!(events[1].data, "null");
    let records = book.finish();
    let texts: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert!(
      texts[0].contains("\"bad\" was dropped: its data is not JSON"),
      "{texts:?}"
    );
    assert!(texts[1].contains("its name \"\" is not"), "{texts:?}");
    assert!(texts[2].starts_with("2 events dropped"), "{texts:?}");
  }

  #[test]
  fn abi_levels() {
    assert_eq!(Level::from_abi(0), Ok(Level::Trace));
    assert_eq!(Level::from_abi(4), Ok(Level::Error));
    assert_eq!(Level::from_abi(9), Err(9));
  }
}
