//! The task's own output while it runs: the launcher (`templates/launcher.py`, `LiveLog`)
//! tees the entry point's stdout and stderr into numbered chunks in the run's folder on the
//! target's store, `<branch folder>/runs/<MLflow run id>/logs/000001.txt`, ..., and writes
//! `end.json` (the last chunk's number) when the entry point has ended. The platform has no
//! API that tails a running task (`runs/get-output` answers after the end, cluster log
//! delivery every five minutes and only on classic clusters), so we read the chunks.
//!
//! A chunk is written whole under its own number, once: a reader takes chunks in order, waits
//! at a gap (a write being retried), and skips a number only once `end.json` says the log is
//! over. Each line of a chunk is `o TEXT` (stdout) or `e TEXT` (stderr).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::output::Output;
use crate::store::Store;

/// The folder of a run's live log under the branch folder. `run_id` is the MLflow run's id,
/// or `{run_id}` for the launcher to fill in (a local run's id is made by the launcher).
pub fn folder(branch_artifacts: &str, run_id: &str) -> String {
    format!(
        "{}/runs/{run_id}/logs",
        branch_artifacts.trim_end_matches('/')
    )
}

/// Which stream a line was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of the task's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

/// `end.json`: the launcher has ended and `chunks` is the last chunk's number.
#[derive(Clone, Debug, Deserialize)]
pub struct End {
    pub chunks: u64,
    #[serde(default)]
    pub status: Option<String>,
}

/// Reads a live log's chunks in order, each once.
#[derive(Debug)]
pub struct Reader {
    pub folder: String,
    next: u64,
    end: Option<End>,
    /// Whether the folder held anything yet (the launcher reached the entry point).
    pub started: bool,
    /// Chunk numbers that were never written (skipped once the log ended).
    pub lost: u64,
}

impl Reader {
    pub fn new(folder: &str) -> Reader {
        Reader {
            folder: folder.trim_end_matches('/').to_string(),
            next: 1,
            end: None,
            started: false,
            lost: 0,
        }
    }

    /// Whether every chunk has been read (or skipped) after the launcher ended the log.
    pub fn done(&self) -> bool {
        self.end.as_ref().is_some_and(|e| self.next > e.chunks)
    }

    /// The lines of the chunks that arrived since the last call: one listing of the folder,
    /// then one read per new chunk.
    pub fn poll(&mut self, store: &dyn Store) -> Result<Vec<Line>> {
        let mut chunks = BTreeMap::new();
        let mut has_end = false;
        for entry in store.list(&self.folder)? {
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            if let Some(n) = name
                .strip_suffix(".txt")
                .and_then(|n| n.parse::<u64>().ok())
            {
                chunks.insert(n, entry.path);
            } else if name == "end.json" {
                has_end = true;
            }
        }
        self.started |= has_end || !chunks.is_empty();
        if has_end && self.end.is_none() {
            let bytes = store.read_small(&format!("{}/end.json", self.folder))?;
            self.end = bytes.and_then(|b| serde_json::from_slice(&b).ok());
        }
        let mut lines = Vec::new();
        loop {
            if let Some(path) = chunks.get(&self.next) {
                match store.read_small(path)? {
                    // A chunk is whole when it ends its last line; a mount that shows a file
                    // while it is written is read again at the next poll.
                    Some(bytes) if bytes.ends_with(b"\n") => {
                        lines.extend(parse(&bytes));
                        self.next += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            match &self.end {
                // The log is over and this number was never written: a lost write.
                Some(end) if self.next <= end.chunks => {
                    self.lost += 1;
                    self.next += 1;
                }
                _ => break,
            }
        }
        Ok(lines)
    }
}

/// A chunk's lines.
pub fn parse(bytes: &[u8]) -> Vec<Line> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| match line.split_at_checked(2) {
            Some(("e ", text)) => Line {
                stream: Stream::Stderr,
                text: text.to_string(),
            },
            Some(("o ", text)) => Line {
                stream: Stream::Stdout,
                text: text.to_string(),
            },
            _ => Line {
                stream: Stream::Stdout,
                text: line.to_string(),
            },
        })
        .collect()
}

/// How often a running task's live log is read while following (`MLOPS_LOG_POLL_MS`,
/// default 2 s): with the launcher's 3 s chunks a line reaches the terminal about 4 s after
/// it was printed, at one listing per poll.
pub fn poll_interval() -> Duration {
    Duration::from_millis(crate::support::time::env_number("MLOPS_LOG_POLL_MS", 2000))
}

/// Shows one line of the task's output: marked among the status lines, or (`plain`, as
/// `logs` prints) its stdout on our stdout and its stderr on our stderr. `--json` makes
/// each an event on stderr either way.
pub fn show_line(line: &Line, plain: bool, output: &Output) {
    let stderr = line.stream == Stream::Stderr;
    match (plain && !output.json(), stderr) {
        (true, false) => output.result(&line.text),
        (true, true) => output.passthrough(&line.text),
        (false, _) => output.task_line(stderr, &line.text),
    }
}

/// A live log being shown while a run is followed.
pub struct Live<'a> {
    pub store: &'a dyn Store,
    pub reader: Reader,
    /// The lines shown so far (the last ones are a failed run's tail).
    pub tail: std::collections::VecDeque<String>,
    /// `logs`: the task's stdout on our stdout and its stderr on our stderr, unmarked;
    /// otherwise (`run`) both are marked lines among the status lines.
    plain: bool,
    warned: bool,
}

/// Lines kept for a failed run's tail.
const TAIL: usize = 50;

impl<'a> Live<'a> {
    /// The live log in `folder`, shown plain (as `logs` does) or marked (as `run` does);
    /// none when nobody would see its lines (`-q`).
    pub fn shown(
        store: &'a dyn Store,
        folder: &str,
        plain: bool,
        output: &Output,
    ) -> Option<Live<'a>> {
        (output.verbosity() >= crate::output::Verbosity::Normal).then(|| Live {
            store,
            reader: Reader::new(folder),
            tail: Default::default(),
            plain,
            warned: false,
        })
    }

    fn show(&self, line: &Line, output: &Output) {
        show_line(line, self.plain, output);
    }

    /// Shows the lines that arrived. A store that cannot be read is said once; following
    /// goes on.
    pub fn show_new(&mut self, output: &Output) {
        match self.reader.poll(self.store) {
            Ok(lines) => {
                for line in lines {
                    self.show(&line, output);
                    if self.tail.len() == TAIL {
                        self.tail.pop_front();
                    }
                    self.tail.push_back(line.text);
                }
            }
            Err(e) if !self.warned => {
                self.warned = true;
                output.warn(format!(
                    "cannot read the task's live output in {}: {e}; the run is followed all the same",
                    self.reader.folder
                ));
            }
            Err(_) => {}
        }
    }

    /// After the run has ended: the lines still to come, until the launcher's last chunk
    /// (or, when it never ended the log, a few seconds).
    pub fn drain(&mut self, output: &Output) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.show_new(output);
            if self.reader.done() || !self.reader.started || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if self.reader.lost > 0 {
            output.note(format!(
                "{} chunk(s) of the live output were never written; `runs/get-output` (the run's page) has the whole log",
                self.reader.lost
            ));
        }
    }

    /// A log that did not end (the task was cancelled or killed before its launcher wrote
    /// its last chunk): the lines of the task's whole log (`runs/get-output`, read once the
    /// run has ended) after the last line shown, so the task's last lines are seen.
    pub fn catch_up(&mut self, whole: &str, output: &Output) {
        let lines: Vec<&str> = whole.lines().collect();
        let from = match self.tail.back() {
            Some(last) => match lines.iter().rposition(|l| l == last) {
                Some(at) => at + 1,
                None => return,
            },
            None => 0,
        };
        for text in &lines[from..] {
            let line = Line {
                stream: Stream::Stdout,
                text: text.to_string(),
            };
            self.show(&line, output);
        }
    }

    /// The last lines shown, for a failed run's summary.
    pub fn tail_text(&self) -> Option<String> {
        (!self.tail.is_empty()).then(|| Vec::from(self.tail.clone()).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        fs_err::create_dir_all(dir).unwrap();
        fs_err::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn chunks_are_read_in_order_once_and_a_gap_waits_until_the_log_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::new(tmp.path());
        let folder = folder(&tmp.path().to_string_lossy(), "r1");
        let dir = std::path::PathBuf::from(&folder);
        let mut reader = Reader::new(&folder);
        assert!(reader.poll(&store).unwrap().is_empty());
        assert!(!reader.started);
        write(&dir, "000001.txt", "o one\ne two\n");
        write(&dir, "000003.txt", "o three\n");
        write(&dir, ".tmp-000004.txt", "o partial");
        let lines = reader.poll(&store).unwrap();
        assert_eq!(
            lines,
            [
                Line {
                    stream: Stream::Stdout,
                    text: "one".into()
                },
                Line {
                    stream: Stream::Stderr,
                    text: "two".into()
                }
            ]
        );
        // Chunk 2 is missing: 3 waits for it, and nothing is read twice.
        assert!(reader.poll(&store).unwrap().is_empty());
        assert!(!reader.done());
        // A chunk still being written (no last newline) is read at a later poll.
        write(&dir, "000002.txt", "o half");
        assert!(reader.poll(&store).unwrap().is_empty());
        write(&dir, "000002.txt", "o half\n");
        let texts: Vec<String> = reader
            .poll(&store)
            .unwrap()
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(texts, ["half", "three"]);
        // The log ends at 5; 4 was never written: skipped, counted.
        write(&dir, "000005.txt", "o five\n");
        write(&dir, "end.json", r#"{"chunks": 5, "status": "FINISHED"}"#);
        let texts: Vec<String> = reader
            .poll(&store)
            .unwrap()
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(texts, ["five"]);
        assert!(reader.done());
        assert_eq!(reader.lost, 1);
    }
}
