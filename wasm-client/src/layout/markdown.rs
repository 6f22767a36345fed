//! Applies a new full text to an Automerge Text as a minimal character diff,
//! so two devices editing different parts of the same markdown both keep
//! their edits after a merge.
//!
//! The diff is computed on Unicode scalar values (Myers' linear-space
//! O(N·D) diff on `char` slices, written here: the `similar` crate cost the
//! browser wasm ~8 KB gzip for the one function we used) and its positions are converted to the document's own text indexing
//! (`ReadDoc::text_encoding`: code points natively, UTF-16 in some wasm
//! builds, UTF-8 when so configured), so the splice lands on the right
//! characters whatever the build.

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, TextEncoding};

/// Above this many changed characters (after the common prefix and suffix
/// are cut) the middle is replaced in one splice: Myers is O(N·D) and a
/// whole-text rewrite of a 256 KB deck must not burn seconds of CPU.
const MAX_DIFF_CHARS: usize = 20_000;

/// Makes the text `obj` equal to `new`, splicing only what changed.
pub fn update<T: Transactable>(tx: &mut T, obj: &ObjId, new: &str) -> Result<(), AutomergeError> {
    let old = tx.text(obj)?;
    if old == new {
        return Ok(());
    }
    let encoding = tx.text_encoding();
    let old_chars: Vec<char> = old.chars().collect();
    let new_chars: Vec<char> = new.chars().collect();
    // Offsets of each old char in the document's units (one extra at the end).
    let mut units = Vec::with_capacity(old_chars.len() + 1);
    let mut at = 0usize;
    for c in &old_chars {
        units.push(at);
        at += width(encoding, *c);
    }
    units.push(at);

    let prefix = common_prefix(&old_chars, &new_chars);
    let suffix = common_suffix(&old_chars[prefix..], &new_chars[prefix..]);
    let old_mid = &old_chars[prefix..old_chars.len() - suffix];
    let new_mid = &new_chars[prefix..new_chars.len() - suffix];

    // The edits in increasing order, applied from the end backwards, so
    // earlier positions stay valid.
    let edits = if old_mid.len() + new_mid.len() > MAX_DIFF_CHARS {
        vec![(0, old_mid.len(), 0, new_mid.len())]
    } else {
        edits(old_mid, new_mid)
    };
    for (old_index, old_len, new_index, new_len) in edits.into_iter().rev() {
        let start = prefix + old_index;
        let pos = units[start];
        let del = units[start + old_len] - pos;
        let ins: String = new_mid[new_index..new_index + new_len].iter().collect();
        tx.splice_text(obj, pos, del as isize, &ins)?;
    }
    Ok(())
}

/// One edit of a diff: (old index, old length, new index, new length).
type Edit = (usize, usize, usize, usize);

/// The edits turning `a` into `b`, in increasing order.
fn edits(a: &[char], b: &[char]) -> Vec<Edit> {
    let max = (a.len() + b.len()).div_ceil(2) + 1;
    let mut v = vec![0usize; 2 * (2 * max + 3)];
    let mut out = Vec::new();
    diff(a, b, 0, 0, &mut v, &mut out);
    out
}

/// Myers' divide and conquer: strips the common ends, splits the rest at a
/// point of its middle snake and recurses, appending the edits in order
/// (touching edits merged, a delete beside an insert becomes one replace).
/// `a0`/`b0` are the slices' offsets in the whole middles; `v` holds both
/// V arrays, sized for the top-level call.
fn diff(a: &[char], b: &[char], a0: usize, b0: usize, v: &mut [usize], out: &mut Vec<Edit>) {
    let pre = common_prefix(a, b);
    let (a, b, a0, b0) = (&a[pre..], &b[pre..], a0 + pre, b0 + pre);
    let suf = common_suffix(a, b);
    let (a, b) = (&a[..a.len() - suf], &b[..b.len() - suf]);
    if a.is_empty() || b.is_empty() {
        if a.len() + b.len() > 0 {
            match out.last_mut() {
                Some(last) if last.0 + last.1 == a0 && last.2 + last.3 == b0 => {
                    last.1 += a.len();
                    last.3 += b.len();
                }
                _ => out.push((a0, a.len(), b0, b.len())),
            }
        }
        return;
    }
    let (x, y) = middle_snake(a, b, v);
    diff(&a[..x], &b[..y], a0, b0, v, out);
    diff(&a[x..], &b[y..], a0 + x, b0 + y, v, out);
}

fn common_prefix(a: &[char], b: &[char]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[char], b: &[char]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// A point on an optimal edit path of `a` → `b` (both non-empty, differing
/// first and last characters) splitting it in two cheaper halves: the forward
/// and backward searches run until their furthest-reaching paths overlap.
fn middle_snake(a: &[char], b: &[char], v: &mut [usize]) -> (usize, usize) {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let delta = n - m;
    let odd = delta & 1 == 1;
    let half = v.len() / 2;
    let off = (half / 2) as isize;
    let (vf, vb) = v.split_at_mut(half);
    let at = |k: isize| (k + off) as usize;
    vf[at(1)] = 0;
    vb[at(1)] = 0;
    let d_max = (n + m + 1) / 2 + 1;
    for d in 0..d_max {
        let mut k = d;
        while k >= -d {
            let x = if k == -d || (k != d && vf[at(k - 1)] < vf[at(k + 1)]) {
                vf[at(k + 1)]
            } else {
                vf[at(k - 1)] + 1
            } as isize;
            let y = x - k;
            let mut end = x;
            if x < n && 0 <= y && y < m {
                end += common_prefix(&a[x as usize..], &b[y as usize..]) as isize;
            }
            vf[at(k)] = end as usize;
            if odd && (k - delta).abs() < d && end + vb[at(delta - k)] as isize >= n {
                return (x as usize, y as usize);
            }
            k -= 2;
        }
        let mut k = d;
        while k >= -d {
            let mut x = if k == -d || (k != d && vb[at(k - 1)] < vb[at(k + 1)]) {
                vb[at(k + 1)]
            } else {
                vb[at(k - 1)] + 1
            } as isize;
            let mut y = x - k;
            if x < n && 0 <= y && y < m {
                let s = common_suffix(&a[..(n - x) as usize], &b[..(m - y) as usize]) as isize;
                x += s;
                y += s;
            }
            vb[at(k)] = x as usize;
            if !odd && (k - delta).abs() <= d && x + vf[at(delta - k)] as isize >= n {
                return ((n - x) as usize, (m - y) as usize);
            }
            k -= 2;
        }
    }
    // Unreachable for inputs as described: the paths meet by d = (n+m)/2.
    (n as usize, 0)
}

pub(crate) fn width(encoding: TextEncoding, c: char) -> usize {
    match encoding {
        TextEncoding::Utf8CodeUnit => c.len_utf8(),
        TextEncoding::Utf16CodeUnit => c.len_utf16(),
        // Grapheme indexing is never configured by this crate; counting code
        // points is the closest safe reading.
        TextEncoding::UnicodeCodePoint | TextEncoding::GraphemeCluster => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, Automerge, ObjType, ReadDoc, ROOT};

    fn doc_with(text: &str, encoding: TextEncoding) -> (Automerge, ObjId) {
        let mut doc =
            Automerge::new_with_encoding(encoding).with_actor(ActorId::from([1u8; 16].as_slice()));
        let mut tx = doc.transaction();
        let t = tx.put_object(ROOT, "t", ObjType::Text).unwrap();
        update(&mut tx, &t, text).unwrap();
        tx.commit();
        (doc, t)
    }

    #[test]
    fn reaches_the_new_text_in_every_encoding() {
        let cases = [
            ("", "abc"),
            ("abc", ""),
            (
                "# 🐙 Ocean\n\nA :: B\n",
                "# 🐙 Ocean Animals\n\nA :: B\nDưa hấu :: 🍉\n",
            ),
            ("✖️ 2 × 3 :: 6", "✖️ 2 × 4 :: 8"),
            ("same", "same"),
        ];
        for enc in [
            TextEncoding::UnicodeCodePoint,
            TextEncoding::Utf8CodeUnit,
            TextEncoding::Utf16CodeUnit,
        ] {
            for (old, new) in cases {
                let (mut doc, t) = doc_with(old, enc);
                let mut tx = doc.transaction();
                update(&mut tx, &t, new).unwrap();
                tx.commit();
                assert_eq!(doc.text(&t).unwrap(), new, "{enc:?} {old:?} -> {new:?}");
            }
        }
    }

    #[test]
    fn a_small_edit_is_a_small_change() {
        let long = "line\n".repeat(1000);
        let (mut doc, t) = doc_with(&long, TextEncoding::UnicodeCodePoint);
        let mut tx = doc.transaction();
        update(&mut tx, &t, &format!("{long}x")).unwrap();
        assert_eq!(tx.pending_ops(), 1);
    }

    #[test]
    fn concurrent_edits_in_different_lines_both_survive() {
        let (mut a, t) = doc_with("2+2 :: 4\n", TextEncoding::UnicodeCodePoint);
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16].as_slice()));
        let mut tx = a.transaction();
        update(&mut tx, &t, "2+2 :: 4\n3+3 :: 6\n").unwrap();
        tx.commit();
        let mut tx = b.transaction();
        update(&mut tx, &t, "1+1 :: 2\n2+2 :: 4\n").unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        assert_eq!(a.text(&t).unwrap(), "1+1 :: 2\n2+2 :: 4\n3+3 :: 6\n");
    }

    #[test]
    fn huge_rewrites_fall_back_to_one_splice() {
        let old: String = (0..30_000)
            .map(|i| if i % 2 == 0 { 'a' } else { 'b' })
            .collect();
        let new: String = (0..30_000)
            .map(|i| if i % 3 == 0 { 'c' } else { 'd' })
            .collect();
        let (mut doc, t) = doc_with(&old, TextEncoding::UnicodeCodePoint);
        let mut tx = doc.transaction();
        update(&mut tx, &t, &new).unwrap();
        tx.commit();
        assert_eq!(doc.text(&t).unwrap(), new);
    }

    /// The case the property test found when the diff came from the
    /// `similar` crate: an insert at an old index behind the preceding ops.
    #[test]
    fn ops_with_out_of_order_indices_still_land_right() {
        let old =
            "\u{301}\n \n🐙 🐙\n\u{301}\n\u{301} ×a×a×🐙🐙a×× \u{301}\u{301}×🐙\u{301}aé×éé\né\n";
        let (mut doc, t) = doc_with(old, TextEncoding::UnicodeCodePoint);
        let mut tx = doc.transaction();
        update(&mut tx, &t, "aé\n\né").unwrap();
        tx.commit();
        assert_eq!(doc.text(&t).unwrap(), "aé\n\né");
    }

    proptest::proptest! {
        /// Any text to any text, with emoji, combining marks and astral
        /// characters, in every indexing: the result is the new text.
        #[test]
        fn any_edit_reaches_the_new_text(
            old in "[a-c🐙é\u{301}\n ×]{0,40}",
            new in "[a-c🐙é\u{301}\n ×]{0,40}",
            enc in 0..3usize,
        ) {
            let enc = [TextEncoding::UnicodeCodePoint, TextEncoding::Utf8CodeUnit, TextEncoding::Utf16CodeUnit][enc];
            let (mut doc, t) = doc_with(&old, enc);
            let mut tx = doc.transaction();
            update(&mut tx, &t, &new).unwrap();
            tx.commit();
            proptest::prop_assert_eq!(doc.text(&t).unwrap(), new);
        }

        /// The diff is minimal: as many characters deleted and inserted as
        /// the `similar` crate's Myers diff (the implementation this one
        /// replaced), and its edits are ordered and inside the texts.
        #[test]
        fn the_diff_is_as_small_as_similars(
            old in "[a-c🐙\n ]{0,60}",
            new in "[a-c🐙\n ]{0,60}",
        ) {
            let a: Vec<char> = old.chars().collect();
            let b: Vec<char> = new.chars().collect();
            let edits = edits(&a, &b);
            let ours: usize = edits.iter().map(|e| e.1 + e.3).sum();
            let theirs: usize = similar::capture_diff_slices(similar::Algorithm::Myers, &a, &b)
                .iter()
                .map(|op| match *op {
                    similar::DiffOp::Equal { .. } => 0,
                    similar::DiffOp::Delete { old_len, .. } => old_len,
                    similar::DiffOp::Insert { new_len, .. } => new_len,
                    similar::DiffOp::Replace { old_len, new_len, .. } => old_len + new_len,
                })
                .sum();
            proptest::prop_assert_eq!(ours, theirs);
            let (mut old_at, mut new_at) = (0, 0);
            for &(oi, ol, ni, nl) in &edits {
                proptest::prop_assert!(oi >= old_at && ni >= new_at && ol + nl > 0);
                old_at = oi + ol;
                new_at = ni + nl;
            }
            proptest::prop_assert!(old_at <= a.len() && new_at <= b.len());
        }
    }
}
