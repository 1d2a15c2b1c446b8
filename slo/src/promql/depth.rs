//! How deep a query nests, and running deep ones where they cannot overflow the stack.
//!
//! `promql-parser` and the evaluator walk the expression tree recursively: the parser's type
//! checks (`Expr::value_type`), its deep clone of every aggregation's argument, `Drop` of the
//! boxed tree, and `Evaluator::eval`, which recurses through one or two functions per level. A
//! query nested a few thousand levels deep (`sum(sum(…))`, `1+1+…+1`, `((((1))))`) overflows
//! a 2 MiB thread stack, and a stack overflow aborts the whole process — in `burnwatch up`, the
//! collector and the store with it.
//!
//! Prometheus's Go parser and engine answer such queries (goroutine stacks grow to 1 GiB). Here:
//!
//! - [`check_query`] bounds the nesting from the query *text* before anything is parsed (a linear
//!   scan with an explicit stack, see [`nesting_bound`]) and refuses a query past [`MAX_DEPTH`]
//!   with [`QueryError::TooDeep`], which names the position, like a parse error. This is a
//!   divergence from Prometheus, which has no limit; real queries nest tens of levels.
//! - [`on_query_stack`] runs the parse, the evaluation and the drop of a query deeper than
//!   [`INLINE_DEPTH`] on a thread with a [`QUERY_STACK_BYTES`] stack, sized from measurements of
//!   the deepest-recursing shapes in debug builds (see the tests), so every accepted query fits.
//!   Shallow queries (nearly all) run on the caller's thread at no extra cost.
//! - [`dismantle`] drops an expression tree without recursion, for callers that parsed a query
//!   and let it go on their own (small) stack.

use promql_parser::parser::{Expr, NumberLiteral};

use super::QueryError;

/// The deepest nesting a query may have: operators, brackets and function calls counted along the
/// deepest path of its tree (see [`nesting_bound`]). Prometheus has no limit; a few thousand
/// levels covers machine-generated queries (a 2 500-term sum), and [`QUERY_STACK_BYTES`] is sized
/// for it.
pub const MAX_DEPTH: usize = 4_000;

/// Queries nesting at most this deep run on the caller's thread: at up to 24 KiB of stack per level
/// in an unoptimised build (see [`QUERY_STACK_BYTES`]), that is at most 768 KiB, which a thread
/// with tokio's default 2 MiB can spare; optimised builds need a fraction of it.
pub const INLINE_DEPTH: usize = 32;

/// Stack of the thread deep queries run on. Measured in debug builds with the shapes of
/// `the_hungriest_shapes_fit_the_query_stack_at_the_limit`: nested function calls (`abs(abs(…))`,
/// `label_replace`, `histogram_quantile`) overflow 48 MiB at [`MAX_DEPTH`] levels and fit in 96 MiB,
/// so 12 to 24 KiB per level; optimised builds take far less. 256 MiB leaves more than twice the
/// measured need. The memory is reserved, not committed: only the pages a query touches are used.
pub const QUERY_STACK_BYTES: usize = 256 << 20;

/// An upper bound on the depth of the expression tree `query` parses into, or the byte offset at
/// which the nesting is first known to exceed `limit`.
///
/// Every level of the tree below the root is introduced by a token of the text: an opening
/// parenthesis (a parenthesised expression, a call or an aggregation), a binary or unary operator
/// (`+ - * / % ^ == != < > <= >= and or unless atan2`), or an opening square bracket (a range
/// selector or subquery wraps what precedes it). So for a parenthesised group, its depth is at
/// most `1 + (operators and brackets directly in it) + (the deepest group inside it)`: a chain of
/// `n` operators nests at most `n` deep whatever the precedence. Strings, comments, braces (label
/// matchers) and numbers are skipped as `promql-parser`'s lexer reads them (escapes in every kind
/// of quote, `#` to the end of the line, exponent signs of decimal numbers), so no operator the
/// parser sees is missed; extra ones only make the bound larger.
///
/// The scan keeps its own stack of open groups (no recursion), and checks as it goes a lower
/// bound of the final figure, so the offset is where the query first went too deep.
pub fn nesting_bound(query: &str, limit: usize) -> Result<usize, usize> {
    /// An open parenthesised group: operators directly in it, and the deepest closed group in it.
    #[derive(Default)]
    struct Group {
        ops: usize,
        deepest_child: usize,
    }
    let bytes = query.as_bytes();
    let mut groups = vec![Group::default()];
    // Sum of `ops + 1` over the open groups: with the innermost group's deepest child, a lower
    // bound of the final depth (each open group nests at least its own chain around the next).
    let mut open_sum = 1usize;
    let over =
        |open_sum: usize, groups: &[Group]| open_sum + groups.last().map_or(0, |g| g.deepest_child) > limit;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'{' => {
                // Label matchers: strings, names, `=`/`!=`/`=~`/`!~`, `or`, comments; none nests.
                i += 1;
                while i < bytes.len() && bytes[i] != b'}' {
                    match bytes[i] {
                        b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
                        b'#' => {
                            while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                                i += 1;
                            }
                        }
                        _ => i += 1,
                    }
                }
            }
            b'[' => {
                // A range selector or subquery wraps the expression before it: one level. Inside
                // are only durations and a colon.
                if let Some(g) = groups.last_mut() {
                    g.ops += 1;
                }
                open_sum += 1;
                if over(open_sum, &groups) {
                    return Err(i);
                }
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
            }
            b'(' => {
                groups.push(Group::default());
                open_sum += 1;
                if over(open_sum, &groups) {
                    return Err(i);
                }
            }
            b')' => {
                if groups.len() == 1 {
                    // Unbalanced: the lexer refuses the query before any tree is built.
                    break;
                }
                if let Some(g) = groups.pop() {
                    open_sum -= g.ops + 1;
                    let depth = g.ops + 1 + g.deepest_child;
                    if let Some(parent) = groups.last_mut() {
                        parent.deepest_child = parent.deepest_child.max(depth);
                    }
                    if over(open_sum, &groups) {
                        return Err(i);
                    }
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' => {
                // Two-character operators (`==`, `!=`, `<=`, `>=`) are one token.
                if matches!(c, b'=' | b'!' | b'<' | b'>') && bytes.get(i + 1) == Some(&b'=') {
                    i += 1;
                }
                if let Some(g) = groups.last_mut() {
                    g.ops += 1;
                }
                open_sum += 1;
                if over(open_sum, &groups) {
                    return Err(i);
                }
            }
            b'0'..=b'9' | b'.' => {
                i = skip_number(bytes, i);
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    if let Some(g) = groups.last_mut() {
                        g.ops += 1;
                    }
                    open_sum += 1;
                    if over(open_sum, &groups) {
                        return Err(start);
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Groups left open (the lexer refuses those too) are closed at the end.
    let mut depth = 0;
    while let Some(g) = groups.pop() {
        depth = g.ops + 1 + g.deepest_child.max(depth);
    }
    if depth > limit {
        return Err(query.len());
    }
    Ok(depth)
}

/// The index just past the quoted string starting at `i` (or the end of the input). As
/// `promql-parser`'s lexer, a backslash escapes the next character in every kind of quote.
fn skip_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The index just past the number or duration starting at `i`. A sign belongs to the number
/// only right after the exponent mark of a decimal number (`1e-5`); in `0x1e+5` it is an operator.
fn skip_number(bytes: &[u8], i: usize) -> usize {
    let hex = bytes.get(i) == Some(&b'0') && matches!(bytes.get(i + 1), Some(b'x' | b'X'));
    let mut j = i;
    while j < bytes.len() {
        let c = bytes[j];
        let sign_of_exponent =
            (c == b'+' || c == b'-') && !hex && j > i && matches!(bytes[j - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || sign_of_exponent {
            j += 1;
        } else {
            break;
        }
    }
    j
}

/// Refuses a query whose text nests deeper than [`MAX_DEPTH`]; otherwise gives the bound.
pub fn check_query(query: &str) -> Result<usize, QueryError> {
    nesting_bound(query, MAX_DEPTH).map_err(|offset| QueryError::TooDeep {
        offset,
        limit: MAX_DEPTH,
    })
}

/// The depth of an expression tree (a leaf is 1), measured without recursion.
pub fn expr_depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 1usize)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        for child in children(e) {
            stack.push((child, d + 1));
        }
    }
    deepest
}

/// The direct subexpressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Aggregate(a) => {
            let mut v = vec![&*a.expr];
            if let Some(p) = &a.param {
                v.push(&**p);
            }
            v
        }
        Expr::Unary(u) => vec![&*u.expr],
        Expr::Binary(b) => vec![&*b.lhs, &*b.rhs],
        Expr::Paren(p) => vec![&*p.expr],
        Expr::Subquery(s) => vec![&*s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| &**a).collect(),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => Vec::new(),
    }
}

/// Drops an expression tree of any depth without recursion: each node's children are taken out
/// (replaced by a number) before the node itself is dropped.
pub fn dismantle(expr: Expr) {
    let leaf = || Box::new(Expr::NumberLiteral(NumberLiteral { val: 0.0 }));
    let mut stack = vec![expr];
    while let Some(mut e) = stack.pop() {
        match &mut e {
            Expr::Aggregate(a) => {
                stack.push(*std::mem::replace(&mut a.expr, leaf()));
                if let Some(p) = a.param.take() {
                    stack.push(*p);
                }
            }
            Expr::Unary(u) => stack.push(*std::mem::replace(&mut u.expr, leaf())),
            Expr::Binary(b) => {
                stack.push(*std::mem::replace(&mut b.lhs, leaf()));
                stack.push(*std::mem::replace(&mut b.rhs, leaf()));
            }
            Expr::Paren(p) => stack.push(*std::mem::replace(&mut p.expr, leaf())),
            Expr::Subquery(s) => stack.push(*std::mem::replace(&mut s.expr, leaf())),
            Expr::Call(c) => stack.extend(c.args.args.drain(..).map(|a| *a)),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
        // `e` now holds at most number leaves below it: dropping it recurses one level.
    }
}

/// Runs `f` on the caller's thread when the query nests at most [`INLINE_DEPTH`] deep, else on a
/// thread with a [`QUERY_STACK_BYTES`] stack (waiting for it). `depth` is an upper bound of the
/// nesting (from [`check_query`] or [`expr_depth`]); it must be at most [`MAX_DEPTH`].
pub fn on_query_stack<R: Send>(
    depth: usize,
    f: impl FnOnce() -> Result<R, QueryError> + Send,
) -> Result<R, QueryError> {
    if depth <= INLINE_DEPTH {
        return f();
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("promql-deep".to_string())
            .stack_size(QUERY_STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| {
                QueryError::Execution(format!("cannot start a thread for a deeply nested query: {e}"))
            })?;
        match handle.join() {
            Ok(r) => r,
            // A panic in the query is the caller's to see, as it would be on its own thread.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{Engine, Value};
    use crate::tsdb::Storage;

    /// `sum(` × n around `vector(1)`: nests n + 2 deep (the root, n sums, the call).
    fn sums(n: usize) -> String {
        format!("{}vector(1){}", "sum(".repeat(n), ")".repeat(n))
    }

    /// `1+1+…+1` with n terms: n - 1 operators, n deep.
    fn ones(n: usize) -> String {
        vec!["1"; n].join("+")
    }

    /// n parentheses around `1`: n + 1 deep.
    fn parens(n: usize) -> String {
        format!("{}1{}", "(".repeat(n), ")".repeat(n))
    }

    fn scalar(v: &Value) -> f64 {
        match v {
            Value::Scalar { v, .. } => *v,
            Value::Vector(v) if v.len() == 1 => v[0].v,
            other => panic!("expected one number, got {other:?}"),
        }
    }

    /// Runs `f` on a thread with tokio's default 2 MiB stack, as the API's workers have.
    fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn bound_is_exact_for_chains_and_skips_strings_comments_and_matchers() {
        assert_eq!(nesting_bound(&sums(10), 100), Ok(12));
        assert_eq!(nesting_bound(&ones(10), 100), Ok(10));
        assert_eq!(nesting_bound(&parens(10), 100), Ok(11));
        assert_eq!(nesting_bound("x{a=\"((((+\", b!~'-'} # ((((\n", 100), Ok(1));
        assert_eq!(nesting_bound("1e-5 + 0x1e+5", 100), Ok(3));
        assert_eq!(nesting_bound("a and b or c unless d atan2 e", 100), Ok(5));
        assert_eq!(nesting_bound("rate(x[5m])[1h:1m]", 100), Ok(4));
    }

    #[test]
    fn deep_queries_are_refused_where_they_went_too_deep() {
        let limit = MAX_DEPTH;
        // Each shape one level past the limit; the offset is the token that went over.
        for (q, at) in [
            (sums(limit - 1), 4 * (limit - 1) + "vector".len()),
            (ones(limit + 1), 2 * limit - 1),
            (parens(limit), limit - 1),
        ] {
            match check_query(&q) {
                Err(QueryError::TooDeep { offset, limit: l }) => {
                    assert_eq!((offset, l), (at, limit), "{}", &q[..20]);
                }
                other => panic!("expected TooDeep, got {other:?}"),
            }
            let err = Engine::default()
                .instant_query(&Storage::new(), &q, 0)
                .unwrap_err();
            assert!(matches!(err, QueryError::TooDeep { .. }), "{err:?}");
        }
    }

    /// The three shapes of issue #12 at the deepest nesting allowed, answered correctly (here and
    /// over a range, whose whole-range path recurses too) from a 2 MiB thread, the size that
    /// overflowed at about 500 levels before.
    #[test]
    fn deep_queries_just_below_the_limit_are_answered() {
        let limit = MAX_DEPTH;
        for (q, want) in [
            (sums(limit - 2), 1.0),
            (ones(limit), limit as f64),
            (parens(limit - 1), 1.0),
        ] {
            assert_eq!(nesting_bound(&q, limit), Ok(limit));
            let got = on_small_stack(move || {
                let s = Storage::new();
                let instant = Engine::default()
                    .instant_query(&s, &q, 0)
                    .map(|r| scalar(&r.value));
                let range = Engine::default()
                    .range_query(&s, &q, 0, 120_000, 60_000)
                    .map(|r| match r.value {
                        Value::Matrix(m) => m.iter().map(|s| s.samples.len()).sum::<usize>(),
                        _ => 0,
                    });
                (instant, range)
            });
            assert_eq!(got, (Ok(want), Ok(3)));
        }
    }

    /// The shapes whose evaluation recurses through the most code per level (functions,
    /// aggregations with parameters, vector matching, subqueries) at the limit: each must fit the
    /// deep-query stack in an unoptimised build.
    #[test]
    fn the_hungriest_shapes_fit_the_query_stack_at_the_limit() {
        let mut s = Storage::new();
        let l = crate::tsdb::Labels::from_pairs([("__name__", "x"), ("a", "1")]);
        for i in 0..5 {
            s.append(&l, i * 60_000, i as f64).unwrap();
        }
        let wrap = |open: &str, close: &str, leaf: &str, n: usize| {
            format!("{}{leaf}{}", open.repeat(n), close.repeat(n))
        };
        let n = MAX_DEPTH;
        let queries = [
            // abs( ... ): the root, n - 2 calls, the selector.
            wrap("abs(", ")", "x", n - 2),
            wrap("topk(1, ", ")", "x", n - 2),
            wrap("label_replace(", ", \"b\", \"$1\", \"a\", \"(.*)\")", "x", n - 2),
            wrap("x + on(a) group_left (", ")", "x", (n - 1) / 2),
            wrap("max_over_time((", ")[2m:1m])", "x", (n - 1) / 3),
            wrap("histogram_quantile(0.5, ", ")", "x", n - 2),
        ];
        for q in queries {
            let bound = check_query(&q).unwrap();
            assert!(bound <= MAX_DEPTH && bound + 3 >= MAX_DEPTH, "{bound}");
            let engine = Engine::default();
            // Errors (histogram_quantile over a plain series) are fine; overflowing is not.
            let _ = engine.instant_query(&s, &q, 240_000);
            let _ = engine.range_query(&s, &q, 0, 240_000, 60_000);
        }
    }

    /// The parse alone recurses (`value_type`, the deep clone of aggregation arguments) and so does
    /// dropping the tree: neither may happen on a small stack.
    #[test]
    fn deep_trees_parse_and_drop_from_a_small_stack() {
        let q = sums(MAX_DEPTH - 2);
        let depth = on_small_stack(move || {
            let expr = Engine::parse(&q).unwrap();
            let d = expr_depth(&expr);
            dismantle(expr);
            d
        });
        assert_eq!(depth, MAX_DEPTH);
    }

    /// A test script's series descriptor is parsed too (`burnwatch promql test` reads user files):
    /// a deep one is an error in the report, not a crash.
    #[test]
    fn deep_series_descriptors_in_test_scripts_are_errors() {
        for n in [3000, 5000] {
            let script = format!("load 1m\n  {} 1 2 3\n\neval instant at 1m x\n", sums(n));
            let errors =
                on_small_stack(move || crate::promql::testscript::run_script("deep", &script).errors);
            assert!(
                errors.iter().any(|e| e.contains("bad series descriptor")),
                "{n}: {errors:?}"
            );
        }
    }

    /// The text bound never under-counts the tree: over random queries and every query of the
    /// Prometheus test corpus this repository carries.
    #[test]
    fn bound_never_undercounts_the_parsed_tree() {
        let mut queries: Vec<String> = Vec::new();
        let dirs = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/promql-testdata"),
        ];
        let files = dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(Result::ok);
        for entry in files {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text.lines() {
                let line = line.trim();
                for prefix in [
                    "eval instant at ",
                    "eval range from ",
                    "eval_fail instant at ",
                    "eval_warn instant at ",
                ] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        // `<time> <query>` or `<a> to <b> step <s> <query>`.
                        let words: Vec<&str> = rest
                            .splitn(if prefix.contains("range") { 6 } else { 2 }, ' ')
                            .collect();
                        if let Some(q) = words.last() {
                            queries.push(q.to_string());
                        }
                    }
                }
            }
        }
        assert!(queries.len() > 100, "{}", queries.len());
        let mut r = crate::promql::tests::Rng(0x2545_f491_4f6c_dd1d);
        for i in 0..2000 {
            queries.push(crate::promql::tests::random_vector(&mut r, 1 + (i % 5)));
        }
        let mut parsed = 0;
        for q in &queries {
            let Ok(expr) = promql_parser::parser::parse(q) else {
                continue;
            };
            parsed += 1;
            let bound = nesting_bound(q, usize::MAX).unwrap();
            assert!(expr_depth(&expr) <= bound, "{q}: {} > {bound}", expr_depth(&expr));
        }
        assert!(parsed > 1000, "{parsed}");
    }
}
