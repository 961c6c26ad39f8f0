//! The faults `feedhandler simulate` can inject, as command-line flags, turned into each
//! local venue's switches. A flag a venue cannot play is refused rather than ignored.

use std::time::Duration;

/// Faults asked for on the command line (all off by default).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Faults {
    /// Close each connection after sending this many frames (the client reconnects).
    #[arg(long, value_name = "FRAMES")]
    pub drop_after_frames: Option<u64>,
    /// Close each connection this long after it opened (the client reconnects).
    #[arg(long, value_name = "MS")]
    pub drop_every_ms: Option<u64>,
    /// Pause this long between frames (default: as fast as the client reads).
    #[arg(long, value_name = "MS")]
    pub frame_interval_ms: Option<u64>,
    /// Binance: frames sent again after a reconnect (an overlap to de-duplicate).
    #[arg(long, value_name = "FRAMES", default_value_t = 0)]
    pub rewind_on_reconnect: usize,
    /// Binance: send a ping after every this many frames.
    #[arg(long, value_name = "FRAMES")]
    pub ping_every_frames: Option<u64>,
    /// Binance: withhold the n-th depth frame of a symbol (a sequence gap): `BTCUSDT:100`.
    #[arg(long, value_name = "SYMBOL:N", value_parser = symbol_and_index)]
    pub skip_depth_frame: Option<(String, usize)>,
    /// Binance: withhold every this many-th depth frame of every symbol (a gap each time).
    #[arg(long, value_name = "FRAMES")]
    pub skip_depth_every: Option<usize>,
    /// Binance: answer the first this many snapshot requests with 429.
    #[arg(long, value_name = "REQUESTS", default_value_t = 0)]
    pub rate_limit_snapshots: u64,
    /// Binance: answer the first this many REST requests with 503.
    #[arg(long, value_name = "REQUESTS", default_value_t = 0)]
    pub unavailable_requests: u64,
    /// Binance: snapshots of the current book, frames never held for them.
    #[arg(long)]
    pub live_book: bool,
    /// Binance: frames at the pace of their recorded times.
    #[arg(long)]
    pub realtime: bool,
    /// Coinbase: skip one sequence_num after this many messages of the first connection.
    #[arg(long, value_name = "MESSAGES")]
    pub skip_sequence_after: Option<u64>,
    /// Coinbase: skip one sequence_num after every this many messages (a gap each time).
    #[arg(long, value_name = "MESSAGES")]
    pub skip_sequence_every: Option<u64>,
    /// Coinbase: number messages 0, 1, 2, … per connection, hiding the recording's gaps.
    #[arg(long)]
    pub renumber: bool,
    /// Coinbase: answer the first this many level2 subscriptions without a snapshot.
    #[arg(long, value_name = "PRODUCTS", default_value_t = 0)]
    pub withhold_level2_snapshots: u64,
}

fn symbol_and_index(text: &str) -> Result<(String, usize), String> {
    let (symbol, n) = text.split_once(':').ok_or("expected SYMBOL:N")?;
    let n = n.parse().map_err(|_| format!("{n:?} is not a frame index"))?;
    Ok((symbol.to_owned(), n))
}

impl Faults {
    pub fn binance(&self) -> Result<super::binance::Switches, String> {
        if self.skip_sequence_after.is_some()
            || self.skip_sequence_every.is_some()
            || self.withhold_level2_snapshots > 0
            || self.renumber
        {
            return Err("--skip-sequence-after, --skip-sequence-every, --withhold-level2-snapshots and --renumber are Coinbase faults".into());
        }
        Ok(super::binance::Switches {
            drop_after_frames: self.drop_after_frames,
            drop_every: self.drop_every_ms.map(Duration::from_millis),
            skip_depth_every: self.skip_depth_every,
            skip_depth_frame: self.skip_depth_frame.clone(),
            rewind_on_reconnect: self.rewind_on_reconnect,
            frame_interval: self.frame_interval_ms.map(Duration::from_millis),
            ping_every_frames: self.ping_every_frames,
            rate_limit_snapshots: self.rate_limit_snapshots,
            unavailable_requests: self.unavailable_requests,
            live_book: self.live_book,
            realtime: self.realtime,
        })
    }

    pub fn coinbase(&self) -> Result<super::coinbase::Switches, String> {
        let binance_only = self.frame_interval_ms.is_some()
            || self.rewind_on_reconnect > 0
            || self.ping_every_frames.is_some()
            || self.skip_depth_frame.is_some()
            || self.skip_depth_every.is_some()
            || self.rate_limit_snapshots > 0
            || self.unavailable_requests > 0
            || self.live_book
            || self.realtime;
        if binance_only {
            return Err("only --drop-after-frames, --drop-every-ms, --skip-sequence-after, --skip-sequence-every and --withhold-level2-snapshots apply to Coinbase".into());
        }
        Ok(super::coinbase::Switches {
            drop_after_frames: self.drop_after_frames,
            drop_every: self.drop_every_ms.map(Duration::from_millis),
            skip_sequence_after: self.skip_sequence_after,
            skip_sequence_every: self.skip_sequence_every,
            renumber: self.renumber,
            withhold_level2_snapshots: self.withhold_level2_snapshots,
        })
    }
}
