//! Did-you-mean: edit distance and the closest of a list of words.

/// The edit distance between `a` and `b` in characters: Levenshtein's insertions, deletions and
/// substitutions, with a swap of two neighbours (`stauts` → `status`) counted as one edit.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // rows[i][j]: the distance between the first i characters of a and the first j of b.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitute = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitute.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// The candidate `word` most likely stands for, compared without regard to ASCII case: the
/// nearest by edit distance if within 1 edit (words of up to 5 characters) or 2 (longer words),
/// first in `candidates` on a tie; else the one candidate that `word` (3 characters or more)
/// begins, as `hist` begins `history`.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let len = word.chars().count();
    let limit = if len <= 5 { 1 } else { 2 };
    let nearest = candidates
        .iter()
        .map(|&c| (edit_distance(&word, c), c))
        .filter(|&(d, _)| d <= limit && len >= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c);
    nearest.or_else(|| {
        let mut begun = candidates
            .iter()
            .filter(|c| len >= 3 && c.starts_with(word.as_str()));
        match (begun.next(), begun.next()) {
            (Some(&only), None) => Some(only),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_swaps() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("deploy", "deploy", 0),
            ("deploi", "deploy", 1),
            ("rollbak", "rollback", 1),
            ("stauts", "status", 1),
            ("ab", "ba", 1),
            ("hello", "help", 2),
            ("kitten", "sitting", 3),
            ("dеploy", "deploy", 1),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a} → {b}");
            assert_eq!(edit_distance(b, a), want, "{b} → {a}");
        }
    }

    #[test]
    fn closest_prefers_small_edits_then_unique_prefixes() {
        let words = [
            "deploy", "diff", "history", "help", "lock", "unlock", "status",
        ];
        let cases = [
            ("deploi", Some("deploy")),
            ("DEPLOI", Some("deploy")),
            ("stauts", Some("status")),
            ("hist", Some("history")),
            ("lok", Some("lock")),
            ("dif", Some("diff")),
            ("de", None),
            ("x", None),
            ("banana", None),
            ("h", None),
            ("hello", None),
            ("lcok", Some("lock")),
        ];
        for (word, want) in cases {
            assert_eq!(closest(word, &words), want, "{word}");
        }
    }
}
