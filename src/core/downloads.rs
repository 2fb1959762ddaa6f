//! Download counting and reading. A download is counted in memory and written to the store in
//! one transaction per flush interval (and at shutdown), never a write per download. Reading
//! goes through [`Period`] (which UTC days) and [`Ecosystem`] (which namespace a name is in), so
//! the seed's `/analytics` and npm's `/downloads` shapes count the same way.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use time::{Date, Duration, Month, OffsetDateTime};

use crate::core::Core;
use crate::core::access::{ReadRefused, Reader};
use crate::store::{DownloadBatch, DownloadCount, MetadataStore, StoreResult};

/// A download remembered: who, what, which version.
type RecentDownload = (Option<IpAddr>, String, String);

/// How long a download is remembered for the install report that names it.
const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
/// Most downloads remembered at once (the oldest are forgotten first).
const MAX_RECENT: usize = 100_000;

#[derive(Default)]
pub struct DownloadCounter {
    state: Arc<CounterState>,
}

#[derive(Default)]
struct CounterState {
    pending: Mutex<HashMap<(String, String, String), u64>>,
    /// Recent downloads by client, for install reports that name them ([`DownloadCounter::
    /// take_recent`]).
    recent: Mutex<HashMap<RecentDownload, Instant>>,
    /// Held from taking the pending counts until they are written, so that a reader who
    /// flushes sees every count recorded before it asked, never a batch in flight. Holds the
    /// batch whose write failed, to send again under its id.
    flushing: tokio::sync::Mutex<Option<DownloadBatch>>,
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn utc_day(at: OffsetDateTime) -> String {
    day_string(at.date())
}

/// A date as `YYYY-MM-DD`, the form days are stored and shown in.
pub fn day_string(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl DownloadCounter {
    /// Counts one download of `name` at `version` by `client`, and remembers it for an hour
    /// (so that the client's report of the install does not count it again).
    pub fn record_by(&self, client: Option<IpAddr>, name: &str, version: &str) {
        self.record(name, version);
        let mut recent = self.state.recent.lock().expect("recent downloads lock");
        if recent.len() >= MAX_RECENT {
            recent.retain(|_, at| at.elapsed() < RECENT_FOR);
            if recent.len() >= MAX_RECENT {
                recent.clear();
            }
        }
        recent.insert(
            (client, name.to_string(), version.to_string()),
            Instant::now(),
        );
    }

    /// Whether `client` downloaded `name@version` within the hour; the memory of it is used up.
    pub fn take_recent(&self, client: Option<IpAddr>, name: &str, version: &str) -> bool {
        let mut recent = self.state.recent.lock().expect("recent downloads lock");
        recent
            .remove(&(client, name.to_string(), version.to_string()))
            .is_some_and(|at| at.elapsed() < RECENT_FOR)
    }

    /// Counts one download of `name` (`zig:<name>` for a Zig package) at `version`.
    pub fn record(&self, name: &str, version: &str) {
        let ecosystem = if name.starts_with("zig:") {
            "zig"
        } else {
            "npm"
        };
        metrics::counter!("pantry_downloads_total", "ecosystem" => ecosystem).increment(1);
        let day = utc_day(OffsetDateTime::now_utc());
        let mut pending = self.state.pending.lock().expect("download counter lock");
        *pending
            .entry((name.to_string(), version.to_string(), day))
            .or_default() += 1;
    }

    /// Before answering with counts: writes what is pending so the answer includes downloads
    /// made a moment ago. A failed write is logged, not fatal: the answer is then at most one
    /// flush interval behind, and the counts stay pending.
    pub async fn flush_for_read(&self, store: &Arc<dyn MetadataStore>) {
        if let Err(e) = self.flush(store).await {
            tracing::warn!(error = %e, "could not write pending download counts before a read");
        }
    }

    /// Writes what is pending. On failure the counts go back into the pending set. The work
    /// runs to its end even if the caller is dropped (a reader whose client hung up), so a
    /// batch is never taken and then neither written nor put back.
    pub async fn flush(&self, store: &Arc<dyn MetadataStore>) -> StoreResult<()> {
        let (state, store) = (self.state.clone(), store.clone());
        tokio::spawn(async move { state.flush(store.as_ref()).await })
            .await
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))?
    }
}

impl CounterState {
    async fn flush(&self, store: &dyn MetadataStore) -> StoreResult<()> {
        let mut unsent = self.flushing.lock().await;
        // A batch whose write failed goes again under the same id: if the write did land
        // (only its answer was lost), the store does not count it twice.
        if let Some(batch) = unsent.take()
            && let Err(e) = store.add_downloads(batch.clone()).await
        {
            *unsent = Some(batch);
            return Err(e);
        }
        let counts: Vec<DownloadCount> = {
            let mut pending = self.pending.lock().expect("download counter lock");
            pending
                .drain()
                .map(|((name, version, day), count)| DownloadCount {
                    name,
                    version,
                    day,
                    count,
                })
                .collect()
        };
        if counts.is_empty() {
            return Ok(());
        }
        let batch = DownloadBatch::new(counts);
        if let Err(e) = store.add_downloads(batch.clone()).await {
            *unsent = Some(batch);
            return Err(e);
        }
        Ok(())
    }
}

/// Which namespace a package name is looked up in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// npm-namespace packages: published here or cached from the upstream.
    #[default]
    Npm,
    /// Zig packages, a namespace of their own.
    Zig,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ecosystem {0:?}: use npm or zig")]
pub struct UnknownEcosystem(pub String);

/// Zig counts are stored under this prefix, apart from npm packages of the same name. npm names
/// cannot contain `:`, so the prefix never collides with one.
pub const ZIG_KEY_PREFIX: &str = "zig:";

impl Ecosystem {
    /// `None` is npm, as the seed's routes have always meant.
    pub fn parse(text: Option<&str>) -> Result<Self, UnknownEcosystem> {
        match text.unwrap_or("npm") {
            "npm" => Ok(Ecosystem::Npm),
            "zig" => Ok(Ecosystem::Zig),
            other => Err(UnknownEcosystem(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::Zig => "zig",
        }
    }

    /// The name a package's downloads are counted under.
    pub fn count_key(self, name: &str) -> String {
        match self {
            Ecosystem::Npm => name.to_string(),
            Ecosystem::Zig => format!("{ZIG_KEY_PREFIX}{name}"),
        }
    }

    fn owns_key(self, key: &str) -> bool {
        key.starts_with(ZIG_KEY_PREFIX) == (self == Ecosystem::Zig)
    }
}

/// Whether a package of that name exists (published here in either ecosystem, or an npm
/// package cached from the upstream) and `reader` may read it; a private name is refused
/// before it is looked up (see [`crate::core::access`]).
pub async fn is_known(
    core: &Core,
    reader: &Reader,
    eco: Ecosystem,
    name: &str,
) -> Result<bool, ReadRefused> {
    let store = &core.store;
    Ok(match eco {
        Ecosystem::Zig => {
            core.access.local(core, reader, name).await?;
            store.zig_package(name).await?.is_some()
        }
        Ecosystem::Npm => {
            core.access.before_npm_lookup(core, reader, name).await?;
            if store.package(name).await?.is_some() {
                core.access.local(core, reader, name).await?;
                true
            } else if store
                .cached_packument(name)
                .await?
                .is_some_and(|c| !c.missing)
            {
                core.access.upstream(core, reader, name).await?;
                true
            } else {
                false
            }
        }
    })
}

/// The `limit` most downloaded packages `reader` may read, most downloaded first (ties by
/// name), as `(name, downloads)`; Zig packages as `zig:<name>`.
pub async fn top_packages(
    core: &Core,
    reader: &Reader,
    limit: usize,
) -> Result<Vec<(String, u64)>, ReadRefused> {
    core.downloads.flush_for_read(&core.store).await;
    let hidden = core.access.hidden(core, reader).await?;
    let mut totals = core.store.download_totals().await?;
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut top = Vec::with_capacity(limit.min(totals.len()));
    for (key, downloads) in totals {
        if top.len() == limit {
            break;
        }
        let shown = if hidden.is_empty() {
            true
        } else if let Some(zig) = key.strip_prefix(ZIG_KEY_PREFIX) {
            hidden.shows(zig, true)
        } else if hidden.local == hidden.upstream {
            hidden.shows(&key, true)
        } else {
            let local = core.store.package(&key).await?.is_some();
            hidden.shows(&key, local)
        };
        if shown {
            top.push((key, downloads));
        }
    }
    Ok(top)
}

/// Every stored count of a known package, including downloads made a moment ago; `None` for an
/// unknown package.
pub async fn package_counts(
    core: &Core,
    reader: &Reader,
    eco: Ecosystem,
    name: &str,
) -> Result<Option<Vec<DownloadCount>>, ReadRefused> {
    if !is_known(core, reader, eco, name).await? {
        return Ok(None);
    }
    // Counts wait in memory for up to a flush interval: write them first so the answer is current.
    core.downloads.flush_for_read(&core.store).await;
    Ok(Some(core.store.downloads(&eco.count_key(name)).await?))
}

/// The version numbers a package has (published here, or in the cached upstream packument);
/// `None` for an unknown package or one `reader` may not read.
pub async fn package_versions(
    core: &Core,
    reader: &Reader,
    eco: Ecosystem,
    name: &str,
) -> Result<Option<Vec<String>>, ReadRefused> {
    if !is_known(core, reader, eco, name).await? {
        return Ok(None);
    }
    let store = &core.store;
    let versions: Vec<String> = match eco {
        Ecosystem::Zig => {
            if store.zig_package(name).await?.is_none() {
                return Ok(None);
            }
            let versions = store.zig_versions(name).await?;
            versions.into_iter().map(|v| v.version).collect()
        }
        Ecosystem::Npm if store.package(name).await?.is_some() => {
            let versions = store.versions(name).await?;
            versions.into_iter().map(|v| v.version).collect()
        }
        Ecosystem::Npm => match store.cached_packument(name).await? {
            Some(c) if !c.missing => crate::core::proxy::cached_versions(core, &c).await?,
            _ => return Ok(None),
        },
    };
    Ok(Some(versions))
}

/// Downloads per day of every package of an ecosystem (local and proxied alike) in `period`.
pub async fn ecosystem_daily(
    core: &Core,
    eco: Ecosystem,
    period: &Period,
) -> StoreResult<Vec<(String, u64)>> {
    core.downloads.flush_for_read(&core.store).await;
    let counts = core
        .store
        .downloads_between(&period.first_day(), &period.last_day())
        .await?;
    Ok(period.daily(counts.iter().filter(|c| eco.owns_key(&c.name))))
}

/// The longest period served, in days (npm's own limit is 18 months).
pub const MAX_PERIOD_DAYS: i64 = 550;

/// A run of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: Date,
    pub end: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "invalid period {0:?}: use last-day, last-week, last-month, last-year, YYYY-MM-DD or YYYY-MM-DD:YYYY-MM-DD"
    )]
    Unknown(String),
    #[error("invalid date {0:?}: not a calendar date in YYYY-MM-DD form")]
    BadDate(String),
    #[error("the period starts ({start}) after it ends ({end})")]
    Backwards { start: String, end: String },
    #[error("the period spans {0} days; at most {MAX_PERIOD_DAYS} are served")]
    TooLong(i64),
}

impl Period {
    /// The `days` days that end with `today` (`0` is no day at all).
    pub fn last_days(days: u32, today: Date) -> Period {
        Period {
            start: today - Duration::days(i64::from(days)) + Duration::days(1),
            end: today,
        }
    }

    /// npm's period forms. The named ones end `today` (our counts are live; npm's end
    /// yesterday): `last-day` is today alone, `last-week` 7 days, `last-month` 30, `last-year`
    /// 365. `YYYY-MM-DD` is that day; `YYYY-MM-DD:YYYY-MM-DD` both days and those between.
    pub fn parse(text: &str, today: Date) -> Result<Period, PeriodError> {
        let period = match text {
            "last-day" => Period::last_days(1, today),
            "last-week" => Period::last_days(7, today),
            "last-month" => Period::last_days(30, today),
            "last-year" => Period::last_days(365, today),
            _ => {
                if !text.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(PeriodError::Unknown(text.to_string()));
                }
                let (start, end) = text.split_once(':').unwrap_or((text, text));
                let period = Period {
                    start: parse_day(start)?,
                    end: parse_day(end)?,
                };
                if period.start > period.end {
                    return Err(PeriodError::Backwards {
                        start: start.to_string(),
                        end: end.to_string(),
                    });
                }
                period
            }
        };
        match period.len_days() {
            days if days > MAX_PERIOD_DAYS => Err(PeriodError::TooLong(days)),
            _ => Ok(period),
        }
    }

    pub fn len_days(&self) -> i64 {
        (self.end - self.start).whole_days() + 1
    }

    pub fn first_day(&self) -> String {
        day_string(self.start)
    }

    pub fn last_day(&self) -> String {
        day_string(self.end)
    }

    /// Whether a stored `YYYY-MM-DD` day falls in the period.
    pub fn contains(&self, day: &str) -> bool {
        parse_day(day).is_ok_and(|d| (self.start..=self.end).contains(&d))
    }

    /// The sum of the counts that fall in the period.
    pub fn total<'a>(&self, counts: impl IntoIterator<Item = &'a DownloadCount>) -> u64 {
        self.daily(counts).iter().map(|(_, n)| n).sum()
    }

    /// One `(day, downloads)` per day of the period, oldest first, zero where nothing counted.
    pub fn daily<'a>(
        &self,
        counts: impl IntoIterator<Item = &'a DownloadCount>,
    ) -> Vec<(String, u64)> {
        let mut per_day: BTreeMap<&str, u64> = BTreeMap::new();
        for c in counts {
            if self.contains(&c.day) {
                *per_day.entry(c.day.as_str()).or_default() += c.count;
            }
        }
        let mut out = Vec::new();
        let mut day = self.start;
        while day <= self.end {
            let text = day_string(day);
            let count = per_day.get(text.as_str()).copied().unwrap_or(0);
            out.push((text, count));
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        out
    }
}

/// A strict `YYYY-MM-DD` that names a real calendar day.
fn parse_day(text: &str) -> Result<Date, PeriodError> {
    let bad = || PeriodError::BadDate(text.to_string());
    let b = text.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().map_err(|_| bad());
    let month =
        Month::try_from(u8::try_from(number(5..7)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let day = u8::try_from(number(8..10)?).map_err(|_| bad())?;
    Date::from_calendar_date(i32::from(number(0..4)?), month, day).map_err(|_| bad())
}

/// Runs once a client has been handed a whole tarball (a download to count).
pub type Downloaded = Box<dyn FnOnce() + Send>;

/// Counts a download of `name@version` when run.
pub fn count_download(core: &std::sync::Arc<Core>, name: &str, version: &str) -> Downloaded {
    let core = core.clone();
    let (name, version) = (name.to_string(), version.to_string());
    let client = crate::core::client_address();
    Box::new(move || core.downloads.record_by(client, &name, &version))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2024 - 03 - 10);

    fn parse(text: &str) -> Result<(String, String), PeriodError> {
        Period::parse(text, TODAY).map(|p| (p.first_day(), p.last_day()))
    }

    fn span(a: &str, b: &str) -> Result<(String, String), PeriodError> {
        Ok((a.to_string(), b.to_string()))
    }

    #[test]
    fn named_periods_end_today() {
        assert_eq!(parse("last-day"), span("2024-03-10", "2024-03-10"));
        assert_eq!(parse("last-week"), span("2024-03-04", "2024-03-10"));
        assert_eq!(parse("last-month"), span("2024-02-10", "2024-03-10"));
        assert_eq!(parse("last-year"), span("2023-03-12", "2024-03-10"));
    }

    #[test]
    fn dates_and_ranges_are_inclusive() {
        assert_eq!(parse("2024-02-29"), span("2024-02-29", "2024-02-29"));
        assert_eq!(
            parse("2023-12-30:2024-01-02"),
            span("2023-12-30", "2024-01-02")
        );
        let p = Period::parse("2023-12-30:2024-01-02", TODAY).unwrap();
        assert_eq!(p.len_days(), 4);
    }

    #[test]
    fn bad_periods_say_why() {
        for bad in ["", "yesterday", "last-decade", "LAST-WEEK", ":2024-01-01"] {
            assert!(
                matches!(parse(bad), Err(PeriodError::Unknown(_))),
                "{bad:?}"
            );
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-1",
            "2024-01-01:",
            "2024-01-01:2024-01-02:2024-01-03",
            "2024-01-0a",
            "20240101",
        ] {
            assert!(
                matches!(parse(bad), Err(PeriodError::BadDate(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse("2024-01-02:2024-01-01"),
            Err(PeriodError::Backwards { .. })
        ));
        assert_eq!(
            parse("2022-01-01:2023-07-04"),
            span("2022-01-01", "2023-07-04"),
            "550 days"
        );
        assert_eq!(
            parse("2022-01-01:2023-07-05"),
            Err(PeriodError::TooLong(551))
        );
    }

    #[test]
    fn daily_is_zero_filled_and_oldest_first() {
        let c = |day: &str, version: &str, count| DownloadCount {
            name: "p".into(),
            version: version.into(),
            day: day.into(),
            count,
        };
        let counts = [
            c("2024-03-09", "1.0.0", 2),
            c("2024-03-09", "2.0.0", 1),
            c("2024-03-01", "1.0.0", 5),
        ];
        let week = Period::last_days(3, TODAY);
        assert_eq!(
            week.daily(&counts),
            [
                ("2024-03-08".to_string(), 0),
                ("2024-03-09".to_string(), 3),
                ("2024-03-10".to_string(), 0)
            ]
        );
        assert_eq!(week.total(&counts), 3);
        assert_eq!(Period::last_days(10, TODAY).total(&counts), 8);
        assert!(Period::last_days(0, TODAY).daily(&counts).is_empty());
    }
}
