//! The dashboard's state and how keys change it: no I/O, no terminal.
//!
//! [`App`] holds what the views need besides the data (the current view, the selected SLO, the
//! filter, the PromQL input line) and the latest [`Snapshot`]. [`App::on_key`] turns one key into
//! a state change plus an [`Action`] for the terminal loop ([`crate::run`]) to carry out: quit,
//! refresh, run a query, turn the demo knob, fetch the detail series of a newly selected SLO.
//! Keeping the loop's side effects out of this type is what lets the tests drive every key
//! without a terminal.

use std::cell::Cell;

use burnwatch_slo::slo::status::SloStatus;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::{OperationRow, QueryOutcome, Snapshot};
use burnwatch_slo::spanmetrics::Operation;

/// How far back the PromQL chart looks: the last hour, as the brief's range query.
pub const CHART_RANGE_MS: i64 = 3_600_000;

/// Rows moved by PageUp / PageDown.
const PAGE: isize = 10;

/// The dashboard's tabs, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// Every SLO, sorted by budget remaining.
    Slos,
    /// One SLO: burndown, alert table, sparklines.
    Detail,
    /// The five DORA metrics.
    Dora,
    /// The collector's own rates, queues and memory.
    Collector,
    /// A PromQL prompt.
    Promql,
    /// Operations from spans (the spanmetrics connector): rate, errors, latency quantiles.
    Traces,
}

impl View {
    /// Every view in tab order (key `1` is the first).
    pub const ALL: [View; 6] = [
        View::Slos,
        View::Detail,
        View::Dora,
        View::Collector,
        View::Promql,
        View::Traces,
    ];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Slos => "SLOs",
            View::Detail => "Detail",
            View::Dora => "DORA",
            View::Collector => "Collector",
            View::Promql => "PromQL",
            View::Traces => "Traces",
        }
    }

    /// The position in [`View::ALL`] (the number key minus one).
    pub fn index(self) -> usize {
        match self {
            View::Slos => 0,
            View::Detail => 1,
            View::Dora => 2,
            View::Collector => 3,
            View::Promql => 4,
            View::Traces => 5,
        }
    }

    fn offset(self, by: isize) -> View {
        let n = View::ALL.len() as isize;
        View::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// What the terminal loop must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave the dashboard (and stop the caller's tasks).
    Quit,
    /// Fetch a new snapshot now.
    Refresh,
    /// Run a PromQL query: instant when `range_ms` is `None`, else a range over the last
    /// `range_ms` milliseconds (the chart).
    RunQuery {
        /// The expression as typed.
        expr: String,
        /// The range for the chart, or `None` for an instant query.
        range_ms: Option<i64>,
    },
    /// Raise (`up`) or lower the demo traffic's error rate.
    Demo {
        /// Whether to raise it.
        up: bool,
    },
    /// The detail view needs the series of another SLO ([`App::selected_id`]), or the Traces
    /// view those of another operation ([`App::operation_focus`]): fetch a snapshot with them.
    SelectionChanged,
}

/// A column the Traces table can be sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceColumn {
    /// Service, then span name, then kind.
    Operation,
    /// Calls per second.
    #[default]
    Rate,
    /// Error percentage.
    Errors,
    /// Median duration.
    P50,
    /// 90th percentile duration.
    P90,
    /// 99th percentile duration.
    P99,
}

impl TraceColumn {
    /// Every column, in the order `s` steps through them (the table's left to right).
    pub const ALL: [TraceColumn; 6] = [
        TraceColumn::Operation,
        TraceColumn::Rate,
        TraceColumn::Errors,
        TraceColumn::P50,
        TraceColumn::P90,
        TraceColumn::P99,
    ];

    /// The value sorted on; `None` sorts last whatever the direction.
    fn value(self, r: &OperationRow) -> Option<f64> {
        match self {
            TraceColumn::Operation => None,
            TraceColumn::Rate => r.rate_per_s,
            TraceColumn::Errors => r.error_ratio,
            TraceColumn::P50 => r.p50_ms,
            TraceColumn::P90 => r.p90_ms,
            TraceColumn::P99 => r.p99_ms,
        }
        .filter(|v| !v.is_nan())
    }
}

/// How the Traces table is sorted: by `column`, largest first when `descending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSort {
    /// The column.
    pub column: TraceColumn,
    /// Largest (or, for names, last) first.
    pub descending: bool,
}

impl Default for TraceSort {
    /// The busiest operations first: "top operations by rate".
    fn default() -> Self {
        TraceSort {
            column: TraceColumn::Rate,
            descending: true,
        }
    }
}

/// A one-line text input with a cursor, counted in characters (not bytes) so multibyte input
/// cannot split a character.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInput {
    text: String,
    cursor: usize,
}

impl LineInput {
    /// The text typed so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor position in characters from the start (0 ..= number of characters).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text and puts the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.chars().count();
    }

    /// Moves the cursor to character `chars` (clamped to the text).
    pub(crate) fn set_cursor(&mut self, chars: usize) {
        self.cursor = chars.min(self.text.chars().count());
    }

    /// Applies one editing key (characters, Backspace, Delete, ← →, Home End, Ctrl-A Ctrl-E
    /// Ctrl-U); returns whether it was one. Other keys are left to the caller: the PromQL view
    /// and the practice view ([`crate::learn`]) share this key map.
    pub(crate) fn edit(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('a') if ctrl => self.home(),
            KeyCode::Char('e') if ctrl => self.end(),
            KeyCode::Char('u') if ctrl => self.clear(),
            KeyCode::Char(c) if !ctrl && !alt => self.insert(c),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Home => self.home(),
            KeyCode::End => self.end(),
            _ => return false,
        }
        true
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    pub(crate) fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
        }
    }

    fn delete(&mut self) {
        if self.cursor < self.text.chars().count() {
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
        }
    }

    fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.text.chars().count());
    }

    pub(crate) fn home(&mut self) {
        self.cursor = 0;
    }

    pub(crate) fn end(&mut self) {
        self.cursor = self.text.chars().count();
    }

    fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }
}

/// The dashboard's state. Rendering ([`crate::ui::draw`]) reads it; [`App::on_key`] and the
/// setters the loop calls change it.
#[derive(Clone, Debug)]
pub struct App {
    title: String,
    view: View,
    snapshot: Option<Snapshot>,
    /// The selected SLO's id: the source of truth, so a re-sorted snapshot keeps the selection
    /// on the same SLO.
    selected_id: Option<String>,
    filter: String,
    filter_editing: bool,
    help: bool,
    query: LineInput,
    query_focused: bool,
    outcome: Option<QueryOutcome>,
    query_running: bool,
    chart: bool,
    fetching: bool,
    /// Problems of the loop itself (a fetch task that died), until the next snapshot.
    errors: Vec<String>,
    scroll: [usize; View::ALL.len()],
    /// The first SLO table row drawn last time. The renderer keeps it (hence the `Cell`) so the
    /// table scrolls only when the selection leaves the visible rows, instead of jumping.
    slo_offset: Cell<usize>,
    /// How the Traces table is sorted.
    trace_sort: TraceSort,
    /// The selected operation in the Traces table (by key, so a re-sort keeps it).
    trace_selected: Option<Operation>,
    /// Whether the Traces view shows the selected operation's latency chart.
    trace_open: bool,
}

impl App {
    /// A dashboard titled `title` (shown in the tab bar), on the SLO view, with no data yet.
    pub fn new(title: impl Into<String>) -> Self {
        App {
            title: title.into(),
            view: View::Slos,
            snapshot: None,
            selected_id: None,
            filter: String::new(),
            filter_editing: false,
            help: false,
            query: LineInput::default(),
            query_focused: false,
            outcome: None,
            query_running: false,
            chart: false,
            fetching: false,
            errors: Vec::new(),
            scroll: [0; View::ALL.len()],
            trace_sort: TraceSort::default(),
            trace_selected: None,
            trace_open: false,
            slo_offset: Cell::new(0),
        }
    }

    /// The title shown in the tab bar.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The view shown.
    pub fn view(&self) -> View {
        self.view
    }

    /// The latest snapshot, `None` until the first arrives.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The filter text (`/`): SLOs whose service, name or id contain it (ignoring case) are
    /// shown.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether the filter prompt has the keys.
    pub fn filter_editing(&self) -> bool {
        self.filter_editing
    }

    /// Whether the help overlay is shown.
    pub fn help(&self) -> bool {
        self.help
    }

    /// The PromQL input line.
    pub fn query(&self) -> &LineInput {
        &self.query
    }

    /// Whether typed characters go to the PromQL input line.
    pub fn query_focused(&self) -> bool {
        self.query_focused && self.view == View::Promql
    }

    /// The answer to the last query run.
    pub fn outcome(&self) -> Option<&QueryOutcome> {
        self.outcome.as_ref()
    }

    /// Whether a query is running.
    pub fn query_running(&self) -> bool {
        self.query_running
    }

    /// Whether the PromQL view shows a line chart (a range query) rather than a table.
    pub fn chart(&self) -> bool {
        self.chart
    }

    /// Whether a snapshot fetch is under way.
    pub fn fetching(&self) -> bool {
        self.fetching
    }

    /// The scroll offset of `view` (rows skipped at the top).
    pub fn scroll(&self, view: View) -> usize {
        self.scroll[view.index()]
    }

    /// The first SLO table row drawn last time (kept by the renderer).
    pub fn slo_offset(&self) -> &Cell<usize> {
        &self.slo_offset
    }

    /// The SLOs the table shows: the snapshot's order, narrowed by the filter.
    pub fn visible_slos(&self) -> Vec<&SloStatus> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        snapshot
            .slos
            .iter()
            .filter(|s| needle.is_empty() || matches_filter(s, &needle))
            .collect()
    }

    /// The selected row of [`App::visible_slos`], `None` when it is empty.
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected_id.as_deref()?;
        self.visible_slos().iter().position(|s| s.id == id)
    }

    /// The selected SLO's id: the detail view shows it, and the loop fetches its series.
    pub fn selected_id(&self) -> Option<&str> {
        self.selected_id.as_deref()
    }

    /// The selected SLO's status in the snapshot.
    pub fn selected(&self) -> Option<&SloStatus> {
        let id = self.selected_id.as_deref()?;
        self.snapshot.as_ref()?.slos.iter().find(|s| s.id == id)
    }

    /// The SLO whose detail series the next fetch should include: the selected one while the
    /// detail view is open (the series cost several range queries, so other views skip them).
    pub fn detail_id(&self) -> Option<&str> {
        (self.view == View::Detail)
            .then_some(self.selected_id.as_deref())
            .flatten()
    }

    /// Takes a new snapshot. The selection stays on the same SLO when it is still shown;
    /// otherwise it moves to the row at the same position. Returns whether the selected SLO
    /// changed (the detail series then belong to another SLO).
    pub fn set_snapshot(&mut self, snapshot: Snapshot) -> bool {
        let before = self.selected_id.clone();
        let index = self.selected_index();
        self.snapshot = Some(snapshot);
        self.fetching = false;
        self.errors.clear();
        self.reselect(index);
        self.reselect_operation();
        before != self.selected_id
    }

    /// Marks a snapshot fetch as started or finished (the status bar says so).
    pub fn set_fetching(&mut self, fetching: bool) {
        self.fetching = fetching;
    }

    /// Records a problem of the dashboard itself (not of the data source) for the status bar,
    /// until the next snapshot arrives.
    pub fn push_error(&mut self, error: String) {
        self.errors.push(error);
    }

    /// Every problem to report: the loop's own, then the last snapshot's fetch errors.
    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.errors
            .iter()
            .chain(self.snapshot.iter().flat_map(|s| s.errors.iter()))
            .map(String::as_str)
    }

    /// Takes the answer to the query that was running.
    pub fn set_outcome(&mut self, outcome: QueryOutcome) {
        self.outcome = Some(outcome);
        self.query_running = false;
        self.scroll[View::Promql.index()] = 0;
    }

    /// Switches to `view`. Entering the PromQL view focuses its input line.
    pub fn set_view(&mut self, view: View) -> Action {
        if view == View::Promql && self.view != View::Promql {
            self.query_focused = true;
        }
        self.view = view;
        if (view == View::Detail && self.selected_id.is_some()) || self.operation_focus().is_some() {
            // The snapshot's series may be for another SLO (operation) or missing: ask for them.
            Action::SelectionChanged
        } else {
            Action::None
        }
    }

    /// Keeps the selection on its id when visible, else on the row at `index` (clamped), else
    /// none.
    fn reselect(&mut self, index: Option<usize>) {
        let visible = self.visible_slos();
        if let Some(id) = &self.selected_id
            && visible.iter().any(|s| &s.id == id)
        {
            return;
        }
        let new = if visible.is_empty() {
            None
        } else {
            let i = index.unwrap_or(0).min(visible.len() - 1);
            Some(visible[i].id.clone())
        };
        self.selected_id = new;
    }

    /// Moves the selection by `delta` rows (clamped to the table). Returns whether it moved.
    fn move_selection(&mut self, delta: isize) -> bool {
        let visible = self.visible_slos();
        if visible.is_empty() {
            return false;
        }
        let current = self
            .selected_id
            .as_deref()
            .and_then(|id| visible.iter().position(|s| s.id == id));
        let last = visible.len() as isize - 1;
        let target = match current {
            Some(i) => (i as isize).saturating_add(delta).clamp(0, last),
            None => 0,
        } as usize;
        let id = visible[target].id.clone();
        let moved = self.selected_id.as_deref() != Some(id.as_str());
        self.selected_id = Some(id);
        moved
    }

    fn scroll_by(&mut self, delta: isize) {
        let s = &mut self.scroll[self.view.index()];
        *s = if delta < 0 {
            s.saturating_sub(delta.unsigned_abs())
        } else {
            s.saturating_add(delta as usize)
        };
    }

    fn run_query(&mut self) -> Action {
        if self.query.text().trim().is_empty() {
            return Action::None;
        }
        // Leading spaces stay: a parse error's position then matches the input line's column.
        let expr = self.query.text().trim_end().to_string();
        self.query_running = true;
        Action::RunQuery {
            expr,
            range_ms: self.chart.then_some(CHART_RANGE_MS),
        }
    }

    fn toggle_chart(&mut self) -> Action {
        self.chart = !self.chart;
        // Show the same expression the other way at once, rather than a stale outcome.
        self.run_query()
    }

    /// Applies one key. Key releases are ignored (terminals that report them would otherwise
    /// act twice). See the help overlay ([`crate::ui`]) for the key map.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Raw mode turns Ctrl-C into a key instead of SIGINT: it must quit from anywhere.
        if ctrl && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.help {
            // Any key closes the overlay; it does nothing else, so a reflexive `q` is safe.
            self.help = false;
            return Action::None;
        }
        if self.filter_editing {
            return self.on_filter_key(key);
        }
        if self.query_focused() {
            return self.on_input_key(key);
        }
        match key.code {
            KeyCode::Char('q') if !ctrl => return Action::Quit,
            KeyCode::Char('?') => {
                self.help = true;
                return Action::None;
            }
            KeyCode::Tab => return self.set_view(self.view.offset(1)),
            KeyCode::BackTab => return self.set_view(self.view.offset(-1)),
            KeyCode::Char(c @ '1'..='6') if !ctrl => {
                let i = c as usize - '1' as usize;
                return self.set_view(View::ALL[i]);
            }
            KeyCode::Char('r') | KeyCode::F(5) if !ctrl => return Action::Refresh,
            // `=` is `+` without Shift on most layouts.
            KeyCode::Char('+' | '=') => return Action::Demo { up: true },
            KeyCode::Char('-' | '_') => return Action::Demo { up: false },
            KeyCode::Char('/') => {
                self.view = View::Slos;
                self.filter_editing = true;
                return Action::None;
            }
            _ => {}
        }
        match self.view {
            View::Slos => self.on_slos_key(key),
            View::Detail => self.on_detail_key(key),
            View::Dora | View::Collector => self.on_scroll_key(key),
            View::Promql => self.on_promql_key(key),
            View::Traces => self.on_traces_key(key),
        }
    }

    fn on_slos_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_selection(-1);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.move_selection(1);
            }
            KeyCode::PageUp => {
                self.move_selection(-PAGE);
            }
            KeyCode::PageDown => {
                self.move_selection(PAGE);
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.move_selection(isize::MIN / 2);
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.move_selection(isize::MAX / 2);
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') if self.selected_id.is_some() => {
                return self.set_view(View::Detail);
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.reselect(self.selected_index());
            }
            _ => {}
        }
        Action::None
    }

    fn on_detail_key(&mut self, key: KeyEvent) -> Action {
        let moved = match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                self.view = View::Slos;
                false
            }
            _ => false,
        };
        if moved {
            Action::SelectionChanged
        } else {
            Action::None
        }
    }

    fn on_scroll_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.scroll_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_by(1),
            KeyCode::PageUp => self.scroll_by(-PAGE),
            KeyCode::PageDown => self.scroll_by(PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.scroll[self.view.index()] = 0,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                self.view = View::Slos;
            }
            _ => {}
        }
        Action::None
    }

    fn on_promql_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter | KeyCode::Char('i') if !ctrl => {
                self.query_focused = true;
                Action::None
            }
            KeyCode::Char('g') if ctrl => self.toggle_chart(),
            KeyCode::F(2) => self.toggle_chart(),
            _ => self.on_scroll_key(key),
        }
    }

    fn on_input_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.query_focused = false,
            KeyCode::Enter => return self.run_query(),
            KeyCode::F(2) => return self.toggle_chart(),
            KeyCode::Char('g') if ctrl => return self.toggle_chart(),
            _ if self.query.edit(key) => {}
            KeyCode::Up => self.scroll_by(-1),
            KeyCode::Down => self.scroll_by(1),
            KeyCode::PageUp => self.scroll_by(-PAGE),
            KeyCode::PageDown => self.scroll_by(PAGE),
            _ => {}
        }
        Action::None
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let index = self.selected_index();
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.filter_editing = false;
            }
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char('u') if ctrl => self.filter.clear(),
            KeyCode::Char(c) if !ctrl => self.filter.push(c),
            KeyCode::Up => {
                self.move_selection(-1);
                return Action::None;
            }
            KeyCode::Down => {
                self.move_selection(1);
                return Action::None;
            }
            _ => return Action::None,
        }
        self.reselect(index);
        Action::None
    }
}

/// The Traces view's state and keys.
impl App {
    /// How the Traces table is sorted.
    pub fn trace_sort(&self) -> TraceSort {
        self.trace_sort
    }

    /// The Traces table's rows in the chosen order. Rows without a value in the sort column come
    /// last; ties keep the operation order, so rows do not jump between refreshes.
    pub fn operations(&self) -> Vec<&OperationRow> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let mut rows: Vec<&OperationRow> = snapshot.traces.operations.iter().collect();
        let TraceSort { column, descending } = self.trace_sort;
        rows.sort_by(|a, b| {
            let by_name = a.op.cmp(&b.op);
            let order = match column {
                TraceColumn::Operation => by_name,
                _ => match (column.value(a), column.value(b)) {
                    (Some(x), Some(y)) => x.total_cmp(&y).then(by_name),
                    (Some(_), None) => return std::cmp::Ordering::Less,
                    (None, Some(_)) => return std::cmp::Ordering::Greater,
                    (None, None) => return by_name,
                },
            };
            if descending { order.reverse() } else { order }
        });
        rows
    }

    /// The selected operation (it may have left the table while its chart is open).
    pub fn selected_operation(&self) -> Option<&Operation> {
        self.trace_selected.as_ref()
    }

    /// Whether the Traces view shows the selected operation's latency chart.
    pub fn operation_open(&self) -> bool {
        self.trace_open
    }

    /// The operation whose latency chart the next fetch should include: the selected one while
    /// its chart is on screen.
    pub fn operation_focus(&self) -> Option<&Operation> {
        (self.view == View::Traces && self.trace_open)
            .then_some(self.trace_selected.as_ref())
            .flatten()
    }

    /// Keeps the selected operation when it is still listed (or its chart is open); otherwise
    /// selects the first row.
    fn reselect_operation(&mut self) {
        let rows = self.operations();
        let keep = self
            .trace_selected
            .as_ref()
            .is_some_and(|op| self.trace_open || rows.iter().any(|r| &r.op == op));
        if !keep {
            let first = rows.first().map(|r| r.op.clone());
            self.trace_selected = first;
        }
    }

    /// Moves the operation selection by `delta` rows (clamped). Returns whether it moved.
    fn move_operation(&mut self, delta: isize) -> bool {
        let rows = self.operations();
        if rows.is_empty() {
            return false;
        }
        let current = self
            .trace_selected
            .as_ref()
            .and_then(|op| rows.iter().position(|r| &r.op == op));
        let last = rows.len() as isize - 1;
        let target = match current {
            Some(i) => (i as isize).saturating_add(delta).clamp(0, last),
            None => 0,
        } as usize;
        let op = rows[target].op.clone();
        let moved = self.trace_selected.as_ref() != Some(&op);
        self.trace_selected = Some(op);
        moved
    }

    fn on_traces_key(&mut self, key: KeyEvent) -> Action {
        let moved = match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_operation(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_operation(1),
            KeyCode::PageUp => self.move_operation(-PAGE),
            KeyCode::PageDown => self.move_operation(PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.move_operation(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_operation(isize::MAX / 2),
            KeyCode::Char('s') => {
                let i = TraceColumn::ALL
                    .iter()
                    .position(|c| *c == self.trace_sort.column)
                    .unwrap_or(0);
                let column = TraceColumn::ALL[(i + 1) % TraceColumn::ALL.len()];
                // Names read A to Z; numbers largest first (the worst latency, the busiest).
                self.trace_sort = TraceSort {
                    column,
                    descending: column != TraceColumn::Operation,
                };
                false
            }
            KeyCode::Char('S') => {
                self.trace_sort.descending = !self.trace_sort.descending;
                false
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l')
                if !self.trace_open && self.trace_selected.is_some() =>
            {
                self.trace_open = true;
                return Action::SelectionChanged;
            }
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                if self.trace_open {
                    self.trace_open = false;
                } else {
                    self.view = View::Slos;
                }
                false
            }
            _ => false,
        };
        if moved && self.trace_open {
            // The chart now belongs to another operation: fetch its series.
            Action::SelectionChanged
        } else {
            Action::None
        }
    }
}

fn matches_filter(s: &SloStatus, needle_lower: &str) -> bool {
    [&s.service, &s.slo, &s.id]
        .iter()
        .any(|f| f.to_lowercase().contains(needle_lower))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_line_edits_at_the_cursor_by_character() {
        let mut l = LineInput::default();
        for c in "rät".chars() {
            l.insert(c);
        }
        l.left();
        l.left();
        l.insert('x');
        assert_eq!((l.text(), l.cursor()), ("rxät", 2));
        l.delete();
        assert_eq!(l.text(), "rxt");
        l.backspace();
        l.backspace();
        l.backspace();
        assert_eq!((l.text(), l.cursor()), ("t", 0));
        l.end();
        l.right();
        assert_eq!(l.cursor(), 1);
    }

    #[test]
    fn views_cycle_both_ways() {
        assert_eq!(View::Promql.offset(1), View::Traces);
        assert_eq!(View::Traces.offset(1), View::Slos);
        assert_eq!(View::Slos.offset(-1), View::Traces);
        assert_eq!(View::Dora.offset(1), View::Collector);
    }
}
