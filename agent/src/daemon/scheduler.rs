//! Runs each drill on its schedule: one loop per drill, so a drill never
//! overlaps itself (fire times that pass while it runs are skipped), and a
//! shared semaphore caps how many drills run at once.
//!
//! Time comes from a [`Clock`], and what a run does from a [`Runner`], so
//! the timing is tested with tokio's paused clock and a runner that only
//! sleeps; the daemon plugs in the wall clock and real drills.

use super::schedule::Schedule;
use crate::config::DrillConfig;
use crate::drill::Stop;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time that advances with tokio's clock, so a paused test clock
/// drives the schedule.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall0: DateTime<Utc>,
    at0: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `wall0` now.
    pub fn starting_at(wall0: DateTime<Utc>) -> Self {
        Self {
            wall0,
            at0: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.at0.elapsed()).unwrap_or_default();
        self.wall0 + elapsed
    }
}

/// Sleeps until the clock reads `t`. Sleeps in steps of at most a minute and
/// reads the clock again after each, so a wall clock set forwards or back
/// (NTP, a resumed VM) moves the wake-up with it.
pub async fn sleep_until(clock: &dyn Clock, t: DateTime<Utc>) {
    loop {
        let now = clock.now();
        if now >= t {
            return;
        }
        let left = (t - now).to_std().unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

/// What a scheduled run does.
#[async_trait::async_trait]
pub trait Runner: Send + Sync + 'static {
    /// When this drill last started a run, for the missed-run policy.
    fn last_run(&self, drill: &str) -> Option<DateTime<Utc>>;
    /// Runs the drill once, to its end (or until `stop` cancels it).
    async fn run(&self, drill: Arc<DrillConfig>, stop: Stop);
    /// The drill's next run is now `at` (`None`: running, or unscheduled).
    fn next_run(&self, _drill: &str, _at: Option<DateTime<Utc>>) {}
}

/// Drill loops and what they share.
pub struct Scheduler {
    runner: Arc<dyn Runner>,
    clock: Arc<dyn Clock>,
    limit: Arc<Semaphore>,
    stop: Stop,
    plans: BTreeMap<String, watch::Sender<Option<Arc<DrillConfig>>>>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("drills", &self.plans.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler running at most `max_concurrent` drills at once; `stop`
    /// ends every loop (see [`Stop`]).
    pub fn new(
        runner: Arc<dyn Runner>,
        clock: Arc<dyn Clock>,
        max_concurrent: usize,
        stop: Stop,
    ) -> Self {
        Self {
            runner,
            clock,
            limit: Arc::new(Semaphore::new(max_concurrent)),
            stop,
            plans: BTreeMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Applies a (re)loaded configuration's drills. Every drill loop
    /// recomputes and logs its next run; a drill that is running finishes
    /// with the configuration it started with; a removed drill (or one
    /// without a schedule) runs no more.
    pub fn apply(&mut self, drills: &BTreeMap<String, DrillConfig>) {
        for (name, tx) in &self.plans {
            if !drills.contains_key(name) {
                tx.send_replace(None);
            }
        }
        for (name, d) in drills {
            let plan = Some(Arc::new(d.clone()));
            if let Some(tx) = self.plans.get(name) {
                tx.send_replace(plan);
                continue;
            }
            let (tx, rx) = watch::channel(plan);
            self.plans.insert(name.clone(), tx);
            self.tasks.spawn(drill_loop(
                name.clone(),
                rx,
                self.runner.clone(),
                self.clock.clone(),
                self.limit.clone(),
                self.stop.clone(),
            ));
        }
    }

    /// Waits until every drill loop has ended (after [`Stop::finish`]).
    pub async fn join(&mut self) {
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "A drill loop ended abnormally.");
            }
        }
    }
}

/// One drill's loop: wait for the next fire time, wait for a free slot, run,
/// repeat. It never starts a run while the previous one is going.
async fn drill_loop(
    name: String,
    mut plan: watch::Receiver<Option<Arc<DrillConfig>>>,
    runner: Arc<dyn Runner>,
    clock: Arc<dyn Clock>,
    limit: Arc<Semaphore>,
    stop: Stop,
) {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut first = true;
    loop {
        let current = plan.borrow_and_update().clone();
        let scheduled = current.and_then(|d| d.schedule.clone().map(|s| (d, s)));
        let Some((drill, schedule)) = scheduled else {
            runner.next_run(&name, None);
            tokio::select! {
                changed = plan.changed() => if changed.is_err() { return },
                () = stop.finishing() => return,
            }
            continue;
        };
        let now = clock.now();
        let catch_up =
            std::mem::take(&mut first) && schedule.missed_run_due(runner.last_run(&name), now);
        let fire = if catch_up {
            tracing::info!(drill = %name, "A scheduled run was missed while the agent was down; running it now (missed = \"run_once\").");
            now
        } else if let Some(next) = schedule.next_after(now) {
            schedule.jittered(next, &mut rng)
        } else {
            tracing::warn!(drill = %name, schedule = schedule.expr(), "The schedule has no future fire time; the drill will not run.");
            runner.next_run(&name, None);
            tokio::select! {
                changed = plan.changed() => if changed.is_err() { return },
                () = stop.finishing() => return,
            }
            continue;
        };
        runner.next_run(&name, Some(fire));
        log_next(&name, &schedule, fire);
        tokio::select! {
            () = sleep_until(&*clock, fire) => {}
            changed = plan.changed() => {
                if changed.is_err() { return }
                continue;
            }
            () = stop.finishing() => return,
        }
        let waited_from = clock.now();
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = stop.finishing() => return,
        };
        let waited = clock.now() - waited_from;
        if waited > chrono::Duration::seconds(1) {
            tracing::info!(drill = %name, waited_secs = waited.num_seconds(), "Started late: other drills held every slot (daemon.max_concurrent_drills).");
        }
        runner.next_run(&name, None);
        runner.run(drill, stop.clone()).await;
        drop(permit);
        if stop.is_finishing() {
            return;
        }
    }
}

fn log_next(name: &str, schedule: &Schedule, fire: DateTime<Utc>) {
    tracing::info!(
        drill = %name,
        next_run = %fire.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        schedule = schedule.expr(),
        timezone = schedule.timezone(),
        "Next run scheduled."
    );
}

#[cfg(test)]
mod tests {
    //! The runner here is an in-process stand-in that only sleeps: these
    //! tests are about timing; the daemon's own test runs real drills.
    use super::*;
    use crate::config::Config;
    use std::sync::Mutex;

    /// (drill, started, ended)
    type Runs = Vec<(String, DateTime<Utc>, DateTime<Utc>)>;

    #[derive(Default)]
    struct Sleeper {
        took: BTreeMap<String, Duration>,
        last: Option<DateTime<Utc>>,
        clock: Option<TokioClock>,
        runs: Mutex<Runs>,
    }

    #[async_trait::async_trait]
    impl Runner for Sleeper {
        fn last_run(&self, _drill: &str) -> Option<DateTime<Utc>> {
            self.last
        }
        async fn run(&self, drill: Arc<DrillConfig>, _stop: Stop) {
            let clock = self.clock.expect("clock");
            let start = clock.now();
            tokio::time::sleep(self.took.get(&drill.name).copied().unwrap_or_default()).await;
            self.runs
                .lock()
                .expect("runs")
                .push((drill.name.clone(), start, clock.now()));
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("time")
    }

    /// Drills `a`, `b`, ... with the given extra TOML each.
    fn drills(each: &[&str]) -> BTreeMap<String, DrillConfig> {
        let mut text = String::from("[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n");
        for (i, extra) in each.iter().enumerate() {
            let name = (b'a' + i as u8) as char;
            text.push_str(&format!("[drills.{name}]\nsource = \"s\"\n{extra}\n"));
        }
        match Config::from_toml(&text, std::path::Path::new("/")) {
            Ok(c) => c.drills,
            Err(e) => panic!("config: {e:?}"),
        }
    }

    /// A runner whose drills take the given seconds each.
    fn taking(secs: &[(&str, u64)]) -> Sleeper {
        Sleeper {
            took: secs
                .iter()
                .map(|(d, s)| ((*d).to_owned(), Duration::from_secs(*s)))
                .collect(),
            ..Sleeper::default()
        }
    }

    /// Runs the scheduler for `for_secs` of paused time from `start`.
    async fn run_for(
        sleeper: Sleeper,
        start: &str,
        limit: usize,
        plan: &BTreeMap<String, DrillConfig>,
        for_secs: u64,
    ) -> Vec<(String, i64, i64)> {
        let clock = TokioClock::starting_at(at(start));
        let runner = Arc::new(Sleeper {
            clock: Some(clock),
            ..sleeper
        });
        let stop = Stop::new();
        let mut s = Scheduler::new(runner.clone(), Arc::new(clock), limit, stop.clone());
        s.apply(plan);
        tokio::time::sleep(Duration::from_secs(for_secs)).await;
        stop.finish();
        s.join().await;
        let t0 = at(start);
        let runs = runner.runs.lock().expect("runs").clone();
        runs.into_iter()
            .map(|(n, a, b)| (n, (a - t0).num_milliseconds(), (b - t0).num_milliseconds()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn runs_fire_on_the_cron_times() {
        let plan = drills(&["schedule = \"*/10 * * * * *\""]);
        let runs = run_for(taking(&[("a", 1)]), "2026-11-29T00:00:05Z", 1, &plan, 36).await;
        let starts: Vec<i64> = runs.iter().map(|r| r.1).collect();
        assert_eq!(starts, vec![5_000, 15_000, 25_000, 35_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_drill_never_overlaps_itself_and_skips_fire_times_it_ran_through() {
        let plan = drills(&["schedule = \"*/10 * * * * *\""]);
        let runs = run_for(taking(&[("a", 25)]), "2026-11-29T00:00:00Z", 4, &plan, 95).await;
        // Fires at 10; runs to 35; next fire after 35 is 40; runs to 65; 70 ...
        let starts: Vec<i64> = runs.iter().map(|r| r.1).collect();
        assert_eq!(starts, vec![10_000, 40_000, 70_000]);
        for w in runs.windows(2) {
            assert!(w[1].1 >= w[0].2, "overlap: {runs:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_limit_keeps_drills_from_running_together() {
        let plan = drills(&["schedule = \"0 * * * * *\"", "schedule = \"0 * * * * *\""]);
        let runs = run_for(
            taking(&[("a", 5), ("b", 5)]),
            "2026-11-29T00:00:00Z",
            1,
            &plan,
            150,
        )
        .await;
        assert_eq!(runs.len(), 4, "{runs:?}");
        let mut sorted = runs.clone();
        sorted.sort_by_key(|r| r.1);
        for w in sorted.windows(2) {
            assert!(w[1].1 >= w[0].2, "ran together: {sorted:?}");
        }
        // Both ran at each minute: one on time, one as soon as the other ended.
        let starts: Vec<i64> = sorted.iter().map(|r| r.1).collect();
        assert_eq!(starts, vec![60_000, 65_000, 120_000, 125_000]);
        // With two slots they start together.
        let runs = run_for(
            taking(&[("a", 5), ("b", 5)]),
            "2026-11-29T00:00:00Z",
            2,
            &plan,
            90,
        )
        .await;
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs.iter().all(|r| r.1 == 60_000), "{runs:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_delays_each_run_within_its_bound() {
        let plan = drills(&["schedule = \"0 * * * * *\"\njitter = \"20s\""]);
        let runs = run_for(
            Sleeper::default(),
            "2026-11-29T00:00:00Z",
            1,
            &plan,
            20 * 60 - 30,
        )
        .await;
        assert_eq!(runs.len(), 19, "{runs:?}");
        let mut offsets = std::collections::BTreeSet::new();
        for (i, r) in runs.iter().enumerate() {
            let fire = (i as i64 + 1) * 60_000;
            assert!(r.1 >= fire && r.1 < fire + 20_000, "run {i} at {}", r.1);
            offsets.insert(r.1 - fire);
        }
        assert!(offsets.len() > 10, "the delay varies: {offsets:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_missed_run_runs_once_at_start_only_with_run_once() {
        let start = "2026-11-29T10:00:00Z";
        let two_days_ago = Some(at("2026-11-27T03:00:01Z"));
        let once = drills(&["schedule = \"0 3 * * *\"\nmissed = \"run_once\""]);
        let runs = run_for(
            Sleeper {
                last: two_days_ago,
                ..Sleeper::default()
            },
            start,
            1,
            &once,
            3600,
        )
        .await;
        assert_eq!(
            runs.iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![0],
            "one catch-up run, at start"
        );
        let skip = drills(&["schedule = \"0 3 * * *\"\nmissed = \"skip\""]);
        let runs = run_for(
            Sleeper {
                last: two_days_ago,
                ..Sleeper::default()
            },
            start,
            1,
            &skip,
            3600,
        )
        .await;
        assert!(runs.is_empty(), "{runs:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_reschedules_and_removes_drills() {
        let clock = TokioClock::starting_at(at("2026-11-29T00:00:00Z"));
        let runner = Arc::new(Sleeper {
            clock: Some(clock),
            ..Sleeper::default()
        });
        let stop = Stop::new();
        let mut s = Scheduler::new(runner.clone(), Arc::new(clock), 2, stop.clone());
        s.apply(&drills(&["schedule = \"0 0 * * * *\""]));
        tokio::time::sleep(Duration::from_secs(30)).await;
        // Hourly becomes every 10 s, and drill b appears.
        s.apply(&drills(&[
            "schedule = \"*/10 * * * * *\"",
            "schedule = \"5 * * * * *\"",
        ]));
        tokio::time::sleep(Duration::from_secs(36)).await;
        // a is removed; b stays.
        let mut only_b = drills(&[
            "schedule = \"*/10 * * * * *\"",
            "schedule = \"5 * * * * *\"",
        ]);
        only_b.remove("a");
        s.apply(&only_b);
        tokio::time::sleep(Duration::from_secs(60)).await;
        stop.finish();
        s.join().await;
        let t0 = at("2026-11-29T00:00:00Z");
        let runs: Vec<(String, i64)> = runner
            .runs
            .lock()
            .expect("runs")
            .iter()
            .map(|(n, a, _)| (n.clone(), (*a - t0).num_seconds()))
            .collect();
        let a: Vec<i64> = runs.iter().filter(|r| r.0 == "a").map(|r| r.1).collect();
        let b: Vec<i64> = runs.iter().filter(|r| r.0 == "b").map(|r| r.1).collect();
        assert_eq!(a, vec![40, 50, 60], "{runs:?}");
        assert_eq!(b, vec![65, 125], "{runs:?}");
    }
}
