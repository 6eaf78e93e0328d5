//! Test support: one S3/SQS emulator (moto server) per test process, and AWS
//! clients pointed at it.
//!
//! [`Emulator::get`] starts `moto_server.py` (beside this crate's
//! `Cargo.toml`, compiled into the test binary) the first time a test asks for it, with the python named by
//! `$CATALOG_RELAY_PYTHON` (default: the venv `scripts/test` makes,
//! `$HOME/.cache/catalog-relay/venv/bin/python`). The server binds a free
//! loopback port and lives exactly as long as the test process: it stops when
//! its stdin reaches EOF, and this crate holds that pipe open until the
//! process exits. When python or moto is missing, `get` panics with how to fix
//! it: a test that needs the emulator never skips and passes.
//!
//! Tests run in parallel against the one server, so each takes its own
//! bucket ([`Emulator::fresh_bucket`]) or queue ([`Emulator::fresh_queue`]).
//!
//! ```no_run
//! # async fn demo() {
//! let emulator = catalog_testkit::Emulator::get();
//! let s3 = emulator.s3().await;
//! let bucket = emulator.fresh_bucket("outbox").await;
//! s3.put_object().bucket(&bucket).key("k").send().await.unwrap();
//! # }
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

/// The moto version the tests are written against (also in `tests/requirements.txt`).
pub const MOTO_VERSION: &str = "5.2.5";

/// How long the server may take to print its port (a cold python import of
/// moto takes a few seconds on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the server may take to answer HTTP once its port is known.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do when the emulator cannot start.
const HOW_TO_FIX: &str = "run scripts/test, which installs moto[server]==5.2.5 into a venv, \
     or set CATALOG_RELAY_PYTHON to a python that has moto[server]==5.2.5";

/// Keeps bucket and queue names unique within the process.
static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// A running moto server shared by every test of this process.
#[derive(Debug)]
pub struct Emulator {
    endpoint: String,
    /// Never used, never dropped: the open pipe keeps the server alive, and
    /// its closing (when the process exits) stops it.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// The emulator's launcher, `moto_server.py`.
const MOTO_SERVER: &str = include_str!("../moto_server.py");

impl Emulator {
    /// The process's emulator, started on first use.
    ///
    /// # Panics
    ///
    /// When python, moto or the server cannot start; the message says how to
    /// fix it. Tests must fail, never skip, without their emulator.
    pub fn get() -> &'static Emulator {
        EMULATOR.get_or_init(|| match Emulator::start(&python()) {
            Ok(emulator) => emulator,
            Err(problem) => {
                panic!("the S3/SQS emulator (moto) did not start: {problem}\nfix: {HOW_TO_FIX}")
            }
        })
    }

    /// The emulator's URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Shared SDK configuration for the emulator: region `us-east-1`, its
    /// endpoint, static credentials `test`/`test`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await
    }

    /// An S3 client on the emulator (path-style addressing).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let shared = self.sdk_config().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// An SQS client on the emulator.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    /// Creates a bucket no other test uses and returns its name, which starts
    /// with `prefix` made lower-case and S3-safe.
    ///
    /// # Panics
    ///
    /// When the emulator refuses to create it.
    pub async fn fresh_bucket(&self, prefix: &str) -> String {
        let name = unique_name(prefix, 63, |c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if let Err(error) = self.s3().await.create_bucket().bucket(&name).send().await {
            panic!(
                "emulator: CreateBucket {name} failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            );
        }
        name
    }

    /// Creates a queue no other test uses and returns its URL; its name starts
    /// with `prefix` made lower-case and SQS-safe.
    ///
    /// # Panics
    ///
    /// When the emulator refuses to create it.
    pub async fn fresh_queue(&self, prefix: &str) -> String {
        let name = unique_name(prefix, 80, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        });
        match self
            .sqs()
            .await
            .create_queue()
            .queue_name(&name)
            .send()
            .await
        {
            Ok(output) => match output.queue_url {
                Some(url) => url,
                None => panic!("emulator: CreateQueue {name} answered without a queue URL"),
            },
            Err(error) => panic!(
                "emulator: CreateQueue {name} failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&error)
            ),
        }
    }

    /// The bytes of an object.
    ///
    /// # Panics
    ///
    /// When the object cannot be read.
    pub async fn object_bytes(&self, bucket: &str, key: &str) -> Vec<u8> {
        let object = self
            .s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator: GetObject {bucket}/{key} failed: {e}"));
        match object.body.collect().await {
            Ok(bytes) => bytes.into_bytes().to_vec(),
            Err(e) => panic!("emulator: reading {bucket}/{key} failed: {e}"),
        }
    }

    /// Sends the S3 notifications of objects created under `prefix` in
    /// `bucket` to a fresh queue, and returns the queue's URL. The queue
    /// first receives S3's `s3:TestEvent`.
    ///
    /// # Panics
    ///
    /// When the emulator refuses a call.
    pub async fn notify_queue(&self, bucket: &str, prefix: &str) -> String {
        use aws_sdk_s3::types::{
            Event, FilterRule, FilterRuleName, NotificationConfiguration,
            NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
        };
        use aws_sdk_sqs::types::QueueAttributeName;
        let sqs = self.sqs().await;
        let queue_url = self.fresh_queue("notify").await;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator: GetQueueAttributes failed: {e}"));
        let Some(arn) = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        else {
            panic!("emulator: the queue has no ARN");
        };
        let rule = FilterRule::builder()
            .name(FilterRuleName::Prefix)
            .value(prefix)
            .build();
        let filter = NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().filter_rules(rule).build())
            .build();
        let queue = QueueConfiguration::builder()
            .queue_arn(arn)
            .events(Event::S3ObjectCreated)
            .filter(filter)
            .build()
            .unwrap_or_else(|e| panic!("a queue configuration: {e}"));
        self.s3()
            .await
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(queue)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator: PutBucketNotificationConfiguration failed: {e}"));
        queue_url
    }

    /// Receives at least `n` messages from the queue (waiting up to about 20
    /// seconds) and shapes them as the SQS event Lambda would deliver.
    ///
    /// # Panics
    ///
    /// When fewer than `n` messages arrive, or the emulator refuses a call.
    pub async fn receive_event(&self, queue_url: &str, n: usize) -> serde_json::Value {
        let sqs = self.sqs().await;
        let mut records = Vec::new();
        for _ in 0..20 {
            let out = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap_or_else(|e| panic!("emulator: ReceiveMessage failed: {e}"));
            for m in out.messages() {
                records.push(serde_json::json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                    "awsRegion": "us-east-1"
                }));
            }
            if records.len() >= n {
                break;
            }
        }
        assert!(
            records.len() >= n,
            "expected {n} messages, got {}",
            records.len()
        );
        serde_json::json!({ "Records": records })
    }

    fn start(python: &Path) -> Result<Emulator, String> {
        // The script travels inside the test binary: a build reused from
        // another checkout (CI shares its target folder) has no path to go
        // stale.
        let mut child = Command::new(python)
            .arg("-c")
            .arg(MOTO_SERVER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", python.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the child's pipes were not set up".to_owned());
        };

        let (errors, draining) = drain_stderr(stderr);
        let port = read_port(stdout).map_err(|problem| {
            let _ = child.kill();
            let _ = child.wait();
            // Let the drain catch up with what the server said before it died.
            let deadline = Instant::now() + Duration::from_secs(2);
            while !draining.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let said = errors.lock().map(|text| text.clone()).unwrap_or_default();
            format!(
                "{} -c <moto_server.py>: {problem}\n{said}",
                python.display()
            )
        })?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until_answers(address)?;
        Ok(Emulator {
            endpoint: format!("http://{address}"),
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
        })
    }
}

/// `$CATALOG_RELAY_PYTHON`, else the venv `scripts/test` makes.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CATALOG_RELAY_PYTHON").filter(|value| !value.is_empty())
    {
        return PathBuf::from(python);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/catalog-relay/venv/bin/python")
}

/// Reads the port line, giving up after [`START_TIMEOUT`]. The reader thread
/// then keeps the pipe drained so the server never blocks on a full stdout.
fn read_port(stdout: impl Read + Send + 'static) -> Result<u16, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        let first = lines.read_line(&mut line).map(|_| line);
        let _ = sender.send(first);
        let _ = std::io::copy(&mut lines, &mut std::io::sink());
    });
    match receiver.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) if line.is_empty() => Err("exited before printing its port".to_owned()),
        Ok(Ok(line)) => line
            .trim()
            .parse()
            .map_err(|_| format!("printed {line:?} where a port number was expected")),
        Ok(Err(error)) => Err(format!("reading its port: {error}")),
        Err(_) => Err(format!(
            "printed no port within {} s",
            START_TIMEOUT.as_secs()
        )),
    }
}

/// Collects the server's stderr (for the panic message if it fails to start)
/// and, once it runs, passes its errors on to ours.
fn drain_stderr(
    stderr: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let collected = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&collected);
    let draining = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("moto: {line}");
            if let Ok(mut text) = sink.lock()
                && text.len() < 64 * 1024
            {
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    (collected, draining)
}

/// Polls until the server answers an HTTP request.
fn wait_until_answers(address: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match probe(address) {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(format!(
                    "http://{address} did not answer within {} s: {error}",
                    READY_TIMEOUT.as_secs()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn probe(address: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut head = [0_u8; 5];
    stream.read_exact(&mut head)?;
    if &head == b"HTTP/" {
        Ok(())
    } else {
        Err(std::io::Error::other("not an HTTP answer"))
    }
}

/// `prefix` reduced to the allowed characters (others become `-`), then a
/// process-unique counter, within `max_len`.
fn unique_name(prefix: &str, max_len: usize, allowed: impl Fn(char) -> bool) -> String {
    let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("-{}-{n}", std::process::id());
    let mut name: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if allowed(c) { c } else { '-' })
        .take(max_len.saturating_sub(suffix.len()))
        .collect();
    let name_trimmed = name.trim_matches('-').to_owned();
    name = if name_trimmed.is_empty() {
        "t".to_owned()
    } else {
        name_trimmed
    };
    if name.len() < 3 {
        name.push_str("xx");
    }
    name.push_str(&suffix);
    name
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_missing_python_is_reported() {
        let problem = Emulator::start(Path::new("/nonexistent/bin/python")).unwrap_err();
        assert!(
            problem.contains("cannot run /nonexistent/bin/python"),
            "{problem}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_python_without_moto_is_reported_with_what_it_said() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"No module named 'moto'\" >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

        let problem = Emulator::start(&fake).unwrap_err();
        assert!(
            problem.contains("exited before printing its port"),
            "{problem}"
        );
        assert!(problem.contains("No module named 'moto'"), "{problem}");
    }

    #[test]
    fn names_are_unique_and_safe() {
        let a = unique_name("Store_Contract::put", 63, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit()
        });
        let b = unique_name("Store_Contract::put", 63, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit()
        });
        assert_ne!(a, b);
        assert!(a.starts_with("store-contract--put-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        let long = unique_name(&"x".repeat(200), 63, |c| c.is_ascii_lowercase());
        assert!(long.len() <= 63, "{long}");
        assert!(unique_name("-", 63, |c| c.is_ascii_lowercase()).starts_with("txx-"));
    }
}
