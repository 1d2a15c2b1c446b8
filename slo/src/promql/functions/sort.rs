//! `sort`, `sort_desc`, `sort_by_label`, `sort_by_label_desc`. Only instant queries keep the order;
//! range results are always sorted by labels.

use std::cmp::Ordering;

use crate::promql::value::Vector;

/// Natural ("human") order: runs of digits compare as numbers (`a2 < a10`).
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let c = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if c != Ordering::Equal {
                return c;
            }
        } else {
            let c = ab[i].cmp(&bb[j]);
            if c != Ordering::Equal {
                return c;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

/// Sorts `vec` as the function `name` does.
pub(super) fn sort(name: &str, mut vec: Vector, names: &[String]) -> Vector {
    match name {
        // NaN goes last in both directions.
        "sort" | "sort_desc" => {
            let desc = name == "sort_desc";
            vec.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => b.v.partial_cmp(&a.v).unwrap_or(Ordering::Equal),
                _ => a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal),
            });
        }
        _ => {
            let desc = name == "sort_by_label_desc";
            vec.sort_by(|a, b| {
                for n in names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x == y {
                        continue;
                    }
                    let c = natural_cmp(x, y);
                    return if desc { c.reverse() } else { c };
                }
                let c = a.labels.cmp(&b.labels);
                if desc { c.reverse() } else { c }
            });
        }
    }
    vec
}
