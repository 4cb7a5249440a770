//! The shared caches against Debian's real `redis-server` (started by each test on a free
//! loopback port, never persisted, killed at the end): two handles stand for two instances.
//! Redis paused (SIGSTOP), killed (SIGKILL) and restarted, a wrong and a right password, TLS.
//! Skipped, with a message, when `redis-server` is not installed (`scripts/deps.sh test`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_cluster::{CacheKind, Cluster, Failure, ObjectId, Outcome};
use bulwark_config::ClusterConfig;
use bulwark_engine::{SharedVerdicts, Threat, Verdict, VerdictKey};
use bulwark_testkit::redis::{Redis, RedisOptions, RedisTls};

fn redis_or_skip() -> Option<std::path::PathBuf> {
    let bin = Redis::find();
    if bin.is_none() {
        eprintln!("skipped: redis-server is not installed (scripts/deps.sh test installs it)");
    }
    bin
}

fn config(url: &str) -> ClusterConfig {
    ClusterConfig {
        redis: url.to_string(),
        ..ClusterConfig::default()
    }
}

fn infected() -> Verdict {
    Verdict::infected(vec![Threat::new("Eicar-Signature", "")])
}

/// Waits (bounded) until `f` holds.
async fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A verdict lookup as the deep scan makes it: from a blocking thread.
async fn get_verdict(c: &Cluster, key: VerdictKey) -> Option<Verdict> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || SharedVerdicts::get(&c, &key))
        .await
        .expect("lookup thread")
}

async fn up(c: &Cluster) {
    until("Redis up", Duration::from_secs(10), || c.is_up()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_blocked_objects_and_verdicts_under_their_prefix() {
    let Some(bin) = redis_or_skip() else { return };
    let redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let a = Cluster::start(&config(&redis.url())).expect("a");
    let b = Cluster::start(&config(&redis.url())).expect("b");
    let other_fleet = Cluster::start(&ClusterConfig {
        prefix: "fleet2:".into(),
        ..config(&redis.url())
    })
    .expect("other fleet");
    up(&a).await;
    up(&b).await;
    up(&other_fleet).await;

    let id = ObjectId::of(&[Some(b"download"), Some(b"http://origin/eicar.com")]);
    assert_eq!(b.blocked(&id).await, None, "nothing blocked yet");
    a.remember_blocked(&id, &infected(), Duration::from_secs(60));
    until("stored", Duration::from_secs(5), || {
        a.stats().stores(CacheKind::Blocked) == 1
    })
    .await;
    let (v, left) = b.blocked(&id).await.expect("blocked on b");
    assert_eq!(v, infected());
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(50),
        "{left:?}"
    );
    assert_eq!(other_fleet.blocked(&id).await, None, "another prefix");

    let key = VerdictKey([42; 32]);
    let clean = Verdict::clean();
    a.put(&key, &clean);
    until("stored", Duration::from_secs(5), || {
        a.stats().stores(CacheKind::Verdict) == 1
    })
    .await;
    assert_eq!(get_verdict(&b, key).await, Some(clean));
    assert_eq!(get_verdict(&b, VerdictKey([43; 32])).await, None);
    assert_eq!(b.stats().lookups(CacheKind::Verdict, Outcome::Hit), 1);
    assert_eq!(b.stats().lookups(CacheKind::Verdict, Outcome::Miss), 1);

    // Namespaced, fixed-length keys, every one with a TTL.
    let keys = redis.keys("bulwark:*");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("bulwark:b:")));
    assert!(keys.iter().any(|k| k.starts_with("bulwark:v:")));
    for k in &keys {
        assert_eq!(k.len(), "bulwark:b:".len() + 64);
        let ttl: i64 = redis
            .cli(&["PTTL", k])
            .expect("pttl")
            .trim()
            .parse()
            .expect("ms");
        assert!(ttl > 0, "{k}: {ttl}");
        let verdict_ttl = (6 * 3600 * 1000) as i64;
        assert!(ttl <= verdict_ttl, "{k}: {ttl}");
    }
    // A value of another format is ignored, not misread.
    let vkey = keys
        .iter()
        .find(|k| k.starts_with("bulwark:v:"))
        .expect("v key");
    redis
        .cli(&["SET", vkey, "bw\u{2}future", "PX", "60000"])
        .expect("set");
    assert_eq!(get_verdict(&b, key).await, None);
    assert_eq!(b.stats().failures(Failure::Format), 1);
    assert!(b.is_up(), "a foreign value is no Redis failure");
    let text = b.metrics();
    assert!(text.contains("bulwark_cluster_redis_up 1\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_costs_one_timeout_then_nothing_and_sharing_resumes() {
    let Some(bin) = redis_or_skip() else { return };
    let redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let c = Cluster::start(&config(&redis.url())).expect("cluster");
    up(&c).await;
    let id = ObjectId::of(&[Some(b"x")]);
    // With Redis up: the time a lookup adds.
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    for _ in 0..200 {
        let one = Instant::now();
        assert_eq!(c.blocked(&id).await, None);
        worst = worst.max(one.elapsed());
    }
    eprintln!(
        "redis up: 200 lookups, mean {:?}, worst {worst:?}",
        t.elapsed() / 200
    );

    redis.pause();
    let t = Instant::now();
    assert_eq!(c.blocked(&id).await, None);
    let first = t.elapsed();
    assert!(first < Duration::from_millis(20 + 30), "{first:?}");
    assert!(!c.is_up());
    let t = Instant::now();
    for _ in 0..100 {
        assert_eq!(c.blocked(&id).await, None);
        assert_eq!(get_verdict(&c, VerdictKey([1; 32])).await, None);
    }
    let rest = t.elapsed() / 100;
    eprintln!("redis paused: first lookup {first:?}, then {rest:?} per blocked+verdict lookup");
    assert!(rest < Duration::from_millis(5), "{rest:?}");
    assert!(c.stats().lookups(CacheKind::Blocked, Outcome::Skipped) >= 100);
    assert!(c.stats().failures(Failure::Timeout) >= 1);
    assert!(c.metrics().contains("bulwark_cluster_redis_up 0\n"));
    // Writes while paused never wait either.
    let t = Instant::now();
    for i in 0..2000u32 {
        c.remember_blocked(
            &ObjectId::of(&[Some(&i.to_le_bytes())]),
            &infected(),
            Duration::from_secs(60),
        );
    }
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );

    redis.resume();
    let t = Instant::now();
    up(&c).await;
    eprintln!("redis resumed: sharing again after {:?}", t.elapsed());
    c.remember_blocked(&id, &infected(), Duration::from_secs(60));
    until("stored", Duration::from_secs(5), || {
        c.stats().stores(CacheKind::Blocked) >= 1
    })
    .await;
    assert!(c.blocked(&id).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_is_reconnected_when_it_comes_back() {
    let Some(bin) = redis_or_skip() else { return };
    let mut redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let a = Cluster::start(&config(&redis.url())).expect("a");
    let b = Cluster::start(&config(&redis.url())).expect("b");
    up(&a).await;
    up(&b).await;
    redis.kill();
    let id = ObjectId::of(&[Some(b"y")]);
    let t = Instant::now();
    for _ in 0..50 {
        assert_eq!(a.blocked(&id).await, None);
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    until("down", Duration::from_secs(5), || !a.is_up() && !b.is_up()).await;
    redis.restart().expect("restart");
    let t = Instant::now();
    up(&a).await;
    up(&b).await;
    eprintln!("redis restarted: both share again after {:?}", t.elapsed());
    a.remember_blocked(&id, &infected(), Duration::from_secs(60));
    until("stored", Duration::from_secs(5), || {
        a.stats().stores(CacheKind::Blocked) >= 1
    })
    .await;
    assert!(b.blocked(&id).await.is_some());
    assert!(a
        .metrics()
        .contains("bulwark_cluster_redis_connects_total 2\n"));
}

fn password_file(dir: &Path, name: &str, pw: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{pw}\n")).expect("write");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_means_local_only_and_the_right_one_shares() {
    let Some(bin) = redis_or_skip() else { return };
    let redis = Redis::start(
        &bin,
        RedisOptions {
            password: Some("right-horse-battery".into()),
            tls: None,
        },
    )
    .expect("redis");
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = Cluster::start(&ClusterConfig {
        password_file: Some(password_file(dir.path(), "wrong", "nope")),
        ..config(&redis.url())
    })
    .expect("wrong");
    let none = Cluster::start(&config(&redis.url())).expect("none");
    let right = Cluster::start(&ClusterConfig {
        password_file: Some(password_file(dir.path(), "right", "right-horse-battery")),
        ..config(&redis.url())
    })
    .expect("right");
    let in_url = Cluster::start(&config(&format!(
        "redis://default:right-horse-battery@127.0.0.1:{}/0",
        redis.port()
    )))
    .expect("in url");
    up(&right).await;
    up(&in_url).await;
    until("auth refused", Duration::from_secs(5), || {
        wrong.stats().failures(Failure::Auth) >= 1 && none.stats().failures(Failure::Auth) >= 1
    })
    .await;
    assert!(!wrong.is_up() && !none.is_up());
    let id = ObjectId::of(&[Some(b"z")]);
    right.remember_blocked(&id, &infected(), Duration::from_secs(60));
    until("stored", Duration::from_secs(5), || {
        right.stats().stores(CacheKind::Blocked) >= 1
    })
    .await;
    assert!(in_url.blocked(&id).await.is_some());
    assert_eq!(wrong.blocked(&id).await, None);
    assert!(format!("{in_url:?}").contains(":***@"), "{in_url:?}");

    // An ACL user limited to its prefix and the commands the docs list.
    redis
        .cli(&[
            "ACL",
            "SETUSER",
            "bulwark",
            "on",
            ">acl-pass-1",
            "~fleet:*",
            "+get",
            "+set",
            "+pttl",
            "+ping",
            "+select",
        ])
        .expect("acl");
    let acl = Cluster::start(&ClusterConfig {
        username: Some("bulwark".into()),
        password_file: Some(password_file(dir.path(), "acl", "acl-pass-1")),
        prefix: "fleet:".into(),
        ..config(&redis.url())
    })
    .expect("acl user");
    up(&acl).await;
    acl.remember_blocked(&id, &infected(), Duration::from_secs(60));
    until("stored", Duration::from_secs(5), || {
        acl.stats().stores(CacheKind::Blocked) >= 1
    })
    .await;
    assert!(acl.blocked(&id).await.is_some());
    assert!(acl.is_up());
    // Outside its key pattern the ACL refuses: a failure, never a wrong answer.
    let outside = Cluster::start(&ClusterConfig {
        username: Some("bulwark".into()),
        password_file: Some(password_file(dir.path(), "acl2", "acl-pass-1")),
        ..config(&redis.url())
    })
    .expect("acl user, other prefix");
    up(&outside).await;
    assert_eq!(outside.blocked(&id).await, None);
    assert!(outside.stats().failures(Failure::Auth) >= 1, "NOPERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let Some(bin) = redis_or_skip() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = bulwark_testkit::pki::Ca::new("Bulwark test CA");
    let (leaf, key) = ca.leaf(&["127.0.0.1"]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let tls = RedisTls {
        cert: write("redis.pem", &leaf),
        key: write("redis.key", &key),
        ca: write("ca.pem", &ca.pem),
    };
    let redis = Redis::start(
        &bin,
        RedisOptions {
            password: None,
            tls: Some(tls.clone()),
        },
    )
    .expect("redis over TLS");
    assert!(redis.url().starts_with("rediss://"));
    let c = Cluster::start(&ClusterConfig {
        ca_file: Some(tls.ca.clone()),
        ..config(&redis.url())
    })
    .expect("cluster");
    up(&c).await;
    let key = VerdictKey([9; 32]);
    c.put(&key, &infected());
    until("stored", Duration::from_secs(5), || {
        c.stats().stores(CacheKind::Verdict) >= 1
    })
    .await;
    assert_eq!(get_verdict(&c, key).await, Some(infected()));
    // Without the CA, the certificate is not trusted: never up.
    let untrusted = Arc::new(Cluster::start(&config(&redis.url())).expect("untrusted"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!untrusted.is_up());
    assert!(untrusted.stats().failures(Failure::Connection) >= 1);
}
