//! Did-you-mean: the closest allowed word by edit distance, or the list of allowed words.

/// `unknown WHAT "FOUND"; did you mean "X"?` when an allowed word is close, else
/// `unknown WHAT "FOUND"; expected one of: a, b, c` (or just `unknown WHAT "FOUND"` when nothing
/// is allowed).
pub(super) fn unknown(what: &str, found: &str, allowed: &[&str]) -> String {
    let head = format!("unknown {what} {found:?}");
    if let Some(close) = closest(found, allowed) {
        format!("{head}; did you mean {close:?}?")
    } else if allowed.is_empty() {
        head
    } else {
        format!("{head}; expected one of: {}", allowed.join(", "))
    }
}

/// The allowed word nearest to `found`, if it is near enough to be a likely typo: at most one
/// edit per three characters (at least one), ignoring case. Ties go to the earlier word.
pub(super) fn closest<'a>(found: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let found = found.to_lowercase();
    allowed
        .iter()
        .map(|word| (distance(&found, &word.to_lowercase()), *word))
        .filter(|(d, word)| *d <= (found.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, word)| word)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of neighbours each cost one.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("batch", "batch"), 0);
        assert_eq!(distance("bacth", "batch"), 1);
        assert_eq!(distance("bach", "batch"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_a_close_word_or_lists_them_all() {
        let allowed = ["name", "hosts", "batch"];
        assert_eq!(
            unknown("key", "bacth", &allowed),
            r#"unknown key "bacth"; did you mean "batch"?"#
        );
        assert_eq!(
            unknown("key", "Hosts", &allowed),
            r#"unknown key "Hosts"; did you mean "hosts"?"#
        );
        assert_eq!(
            unknown("key", "zzz", &allowed),
            r#"unknown key "zzz"; expected one of: name, hosts, batch"#
        );
        assert_eq!(unknown("role", "ops", &[]), r#"unknown role "ops""#);
    }
}
