//! "Did you mean": names near a mistyped one, by edit distance.

/// At most this many suggestions.
const MAX_HINTS: usize = 5;

/// Names from `names` close to `wanted`, closest first: within an edit distance of a third of
/// the longer name (at least 1, adjacent swaps count once), or starting with `wanted` when it
/// has three characters or more.
pub(super) fn near_names<'a>(
    wanted: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .filter(|name| *name != wanted)
        .filter_map(|name| {
            let distance = edit_distance(wanted, name);
            let longer = wanted.chars().count().max(name.chars().count());
            let close = distance <= (longer / 3).max(1);
            let extends = wanted.chars().count() >= 3 && name.starts_with(wanted);
            (close || extends).then_some((distance, name))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup();
    scored
        .into_iter()
        .take(MAX_HINTS)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost one.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        table[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        table[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[at(i - 1, j)] + 1)
                .min(table[at(i, j - 1)] + 1)
                .min(table[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[at(i - 2, j - 2)] + 1);
            }
            table[at(i, j)] = best;
        }
    }
    table[at(a.len(), b.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("main", "main"), 0);
        assert_eq!(edit_distance("mian", "main"), 1);
        assert_eq!(edit_distance("v1.4.3", "v1.4.2"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn near_names_are_close_first_and_skip_far_ones() {
        let names = [
            "main",
            "maint",
            "v1.4.2",
            "v1.4.1",
            "feature/feeds",
            "release-2",
        ];
        assert_eq!(near_names("mian", names), ["main"]);
        assert_eq!(near_names("mai", names), ["main", "maint"]);
        assert_eq!(near_names("v1.4.3", names), ["v1.4.1", "v1.4.2"]);
        assert_eq!(near_names("release", names), ["release-2"]);
        assert!(near_names("zzz", names).is_empty());
    }
}
