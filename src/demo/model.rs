//! The demo's traffic model: which routes get how much traffic, and how their error share and
//! latency move over time. Everything here is a pure function of the time since the demo
//! started, so the schedule is the same on every run and the tests can check it without a clock.
//!
//! Three things move the numbers:
//! - the *base* error share, the dashboard's knob ([`super::DemoControl`]), 0.3% by default;
//! - a slow *drift*: the base is scaled by `1 ± 0.5` on a 10-minute sine, latency medians by
//!   `1 ± 0.15` on a 7-minute sine, and the request rate moves between 23 and 47 per second;
//! - *spikes*: the first at [`FIRST_SPIKE`] (75 s) after start, then one every [`SPIKE_EVERY`]
//!   (4.5 minutes), lasting 120, 90 and 105 seconds in turn. Each hits a few routes with extra
//!   5xx responses and slower answers ([`SpikeKind`]).
//!
//! With the default knob, spike 0 (a payment-provider outage) pushes the share of 5xx responses
//! over all routes to about 5%, 50 times the 0.1% budget of a 99.9% objective, so the
//! availability SLO's page alert (14.4 × budget over both 1h and 5m) fires within about two
//! minutes of the start. Outside spikes the knob's 0.3% is the overall 5xx share (the route
//! weights average 1), three times that budget: lower the knob to watch the burn rates fall.

use std::time::Duration;

/// One HTTP route of the fake checkout service, with its steady-state behaviour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Route {
    /// `http.request.method`.
    pub method: &'static str,
    /// `http.route`: the route template, as the semantic conventions ask (not the concrete path).
    pub path: &'static str,
    /// The status code of a successful answer.
    pub ok_status: u16,
    /// The share of all requests that go to this route (the shares add up to 1).
    pub traffic_share: f64,
    /// Multiplies the knob's base error share: some routes fail more often than others.
    pub error_weight: f64,
    /// The share of requests answered with [`Route::client_error_status`]: the client's fault,
    /// so not an error for the availability SLOs (they count 5xx only).
    pub client_error_share: f64,
    /// The 4xx status code this route answers when the client is at fault.
    pub client_error_status: u16,
    /// The median latency in seconds, outside spikes and before drift.
    pub median_seconds: f64,
    /// The log-normal shape: the standard deviation of the latency's natural logarithm.
    pub sigma: f64,
}

/// The routes, in a fixed order (the order [`TrafficModel::pick_route`] walks).
///
/// Medians and shapes put about 0.1% of requests over 500 ms outside spikes, a tenth of the
/// budget of the 99% latency SLO in `examples/demo-slos/`.
pub const ROUTES: [Route; 4] = [
    Route {
        method: "GET",
        path: "/api/cart",
        ok_status: 200,
        traffic_share: 0.40,
        error_weight: 0.6,
        client_error_share: 0.005,
        client_error_status: 404,
        median_seconds: 0.025,
        sigma: 0.5,
    },
    Route {
        method: "GET",
        path: "/api/products/{id}",
        ok_status: 200,
        traffic_share: 0.25,
        error_weight: 0.8,
        client_error_share: 0.02,
        client_error_status: 404,
        median_seconds: 0.040,
        sigma: 0.6,
    },
    Route {
        method: "POST",
        path: "/api/checkout",
        ok_status: 201,
        traffic_share: 0.20,
        error_weight: 1.5,
        client_error_share: 0.01,
        client_error_status: 400,
        median_seconds: 0.080,
        sigma: 0.55,
    },
    Route {
        method: "POST",
        path: "/api/payment",
        ok_status: 200,
        traffic_share: 0.15,
        error_weight: 1.7,
        client_error_share: 0.02,
        // 402 Payment Required: the card was declined.
        client_error_status: 402,
        median_seconds: 0.120,
        sigma: 0.5,
    },
];

/// When the first spike starts, counted from the demo's start.
pub const FIRST_SPIKE: Duration = Duration::from_secs(75);

/// The time from one spike's start to the next one's.
pub const SPIKE_EVERY: Duration = Duration::from_secs(270);

/// How long spikes last, in turn (spike `n` lasts `SPIKE_LENGTHS[n % 3]`).
pub const SPIKE_LENGTHS: [Duration; 3] = [
    Duration::from_secs(120),
    Duration::from_secs(90),
    Duration::from_secs(105),
];

/// What goes wrong during a spike. Spike `n` is of kind `SpikeKind::ALL[n % 3]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeKind {
    /// The payment provider fails: `/api/payment` answers 5xx to a fifth of its requests and
    /// slowly; `/api/checkout`, which calls it, suffers too.
    PaymentOutage,
    /// A slow release of the checkout code: `/api/checkout` becomes ten times slower.
    CheckoutSlowdown,
    /// The database browns out: the read routes get slow and fail now and then.
    DatabaseBrownout,
}

impl SpikeKind {
    /// The kinds in schedule order.
    pub const ALL: [SpikeKind; 3] = [
        SpikeKind::PaymentOutage,
        SpikeKind::CheckoutSlowdown,
        SpikeKind::DatabaseBrownout,
    ];

    /// A short description for logs and incident records.
    pub fn describe(self) -> &'static str {
        match self {
            SpikeKind::PaymentOutage => "payment provider outage",
            SpikeKind::CheckoutSlowdown => "slow checkout release",
            SpikeKind::DatabaseBrownout => "database brownout",
        }
    }

    /// The extra 5xx share and the latency factor this kind adds to `route`.
    fn effect(self, route: &Route) -> (f64, f64) {
        match (self, route.path) {
            (SpikeKind::PaymentOutage, "/api/payment") => (0.20, 4.0),
            (SpikeKind::PaymentOutage, "/api/checkout") => (0.08, 3.0),
            (SpikeKind::CheckoutSlowdown, "/api/checkout") => (0.05, 10.0),
            (SpikeKind::CheckoutSlowdown, "/api/payment") => (0.0, 2.0),
            (SpikeKind::DatabaseBrownout, "/api/cart") => (0.06, 5.0),
            (SpikeKind::DatabaseBrownout, "/api/products/{id}") => (0.05, 5.0),
            (SpikeKind::DatabaseBrownout, "/api/checkout") => (0.05, 2.0),
            _ => (0.0, 1.0),
        }
    }
}

/// One spike of the schedule: `[start, end)` counted from the demo's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spike {
    /// 0 for the first spike.
    pub index: u64,
    /// When it starts.
    pub start: Duration,
    /// When it ends (exclusive).
    pub end: Duration,
    /// What goes wrong.
    pub kind: SpikeKind,
}

/// A log-normal latency distribution: `ln(latency)` is normal with mean `ln(median)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogNormal {
    /// The median latency in seconds.
    pub median_seconds: f64,
    /// The standard deviation of `ln(latency)`.
    pub sigma: f64,
}

impl LogNormal {
    /// The latency for a standard normal draw `z`.
    pub fn at(self, z: f64) -> f64 {
        self.median_seconds * (self.sigma * z).exp()
    }
}

/// How one route behaves at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    /// The probability that a request is answered with a 5xx, in `[0, 1]`.
    pub error_share: f64,
    /// The latency distribution of its requests.
    pub latency: LogNormal,
    /// The spike in progress, if any.
    pub spike: Option<Spike>,
}

/// The whole model: the routes and the spike schedule. [`TrafficModel::default`] is what the
/// demo runs.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficModel {
    /// The routes and their steady-state behaviour.
    pub routes: &'static [Route],
    /// When the first spike starts.
    pub first_spike: Duration,
    /// The time between spike starts.
    pub spike_every: Duration,
}

impl Default for TrafficModel {
    fn default() -> Self {
        TrafficModel {
            routes: &ROUTES,
            first_spike: FIRST_SPIKE,
            spike_every: SPIKE_EVERY,
        }
    }
}

/// `sin(2π t / period)`.
fn wave(elapsed: Duration, period_seconds: f64, phase: f64) -> f64 {
    (std::f64::consts::TAU * elapsed.as_secs_f64() / period_seconds + phase).sin()
}

impl TrafficModel {
    /// Spike number `index`.
    pub fn spike(&self, index: u64) -> Spike {
        let start = self.first_spike
            + self
                .spike_every
                .saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
        // Lengths are shorter than the spacing (checked by a test), so spikes never overlap.
        let length = SPIKE_LENGTHS[(index % 3) as usize];
        Spike {
            index,
            start,
            end: start + length,
            kind: SpikeKind::ALL[(index % 3) as usize],
        }
    }

    /// The spike in progress at `elapsed`, if any.
    pub fn spike_at(&self, elapsed: Duration) -> Option<Spike> {
        if elapsed < self.first_spike || self.spike_every.is_zero() {
            return None;
        }
        let index = ((elapsed - self.first_spike).as_secs_f64() / self.spike_every.as_secs_f64()) as u64;
        let spike = self.spike(index);
        (elapsed >= spike.start && elapsed < spike.end).then_some(spike)
    }

    /// Requests per second over all routes at `elapsed`: 35 ± 12 on a 5-minute sine.
    pub fn request_rate(&self, elapsed: Duration) -> f64 {
        35.0 + 12.0 * wave(elapsed, 300.0, 0.0)
    }

    /// The route for a uniform draw `u` in `[0, 1)`, by traffic share.
    pub fn pick_route(&self, u: f64) -> &'static Route {
        let mut acc = 0.0;
        for route in self.routes {
            acc += route.traffic_share;
            if u < acc {
                return route;
            }
        }
        // Rounding can leave the shares a hair under 1.
        self.routes.last().unwrap_or(&ROUTES[0])
    }

    /// How `route` behaves at `elapsed` when the knob's base error share is `base`.
    ///
    /// The 5xx share is `base × route weight × drift + spike effect`, clamped to `[0, 1]`: a base
    /// of 0 gives no errors outside spikes, and doubling the base doubles the share outside
    /// spikes. A non-finite or negative base counts as 0.
    pub fn conditions(&self, elapsed: Duration, route: &Route, base: f64) -> Conditions {
        let base = if base.is_finite() {
            base.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Each route drifts with its own phase so they do not move in lockstep.
        let phase = route.traffic_share * 10.0;
        let error_drift = 1.0 + 0.5 * wave(elapsed, 600.0, phase);
        let latency_drift = 1.0 + 0.15 * wave(elapsed, 420.0, phase);
        let spike = self.spike_at(elapsed);
        let (extra_errors, slowdown) = spike.map_or((0.0, 1.0), |s| s.kind.effect(route));
        let error_share = (base * route.error_weight * error_drift + extra_errors).clamp(0.0, 1.0);
        Conditions {
            error_share,
            latency: LogNormal {
                median_seconds: route.median_seconds * latency_drift * slowdown,
                sigma: route.sigma,
            },
            spike,
        }
    }
}

/// A small deterministic random number generator (SplitMix64, Steele, Lea and Flood 2014): the
/// demo must replay the same traffic for the same seed, and needs nothing stronger.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
