//! Choosing Huffman codes for a block: code lengths from symbol counts,
//! limited in length, and the canonical codes they imply (RFC 1951
//! sections 3.2.2 and 3.2.7).
//!
//! A dynamic block (section 3.2.7) sends only code *lengths*; both ends
//! derive the codes by the canonical rule of section 3.2.2. The encoder's
//! job is to pick lengths that make the block small: Huffman's algorithm
//! (repeatedly merge the two least frequent subtrees) gives the optimal
//! lengths, but they can exceed what DEFLATE can send, 15 bits for the
//! literal/length and distance codes and 7 for the code length code.
//!
//! [`build_lengths`] limits them like this, working on the *number* of codes
//! of each length, measured by the Kraft sum `K = sum 2^(max - len)`, which
//! is exactly `2^max` for a complete prefix code:
//!
//! 1. codes deeper than `max` are cut to `max`; that makes `K` too big;
//! 2. while `K > 2^max`, one code of the deepest length below `max` moves one
//!    level down (it gets one bit longer), freeing `2^(max - len - 1)`;
//! 3. while `K < 2^max`, a code at the deepest length whose promotion still
//!    fits moves one level up (one bit shorter); one always fits, since `K`
//!    and `2^max` are both multiples of the deepest level's weight;
//! 4. the lengths, shortest first, go to the symbols, most frequent first.
//!
//! The result is a complete code (Kraft sum exactly one), which every
//! inflater accepts, and is the optimal code whenever no length needed
//! limiting. A block that uses fewer than two symbols of an alphabet still
//! gets two codes of one bit (the second one unused), as zlib does: a code
//! of one symbol would be incomplete, which section 3.2.7 allows only for
//! distances.

/// The largest alphabet: 286 literal/length symbols (0-285; 286 and 287
/// never occur, section 3.2.5).
pub(crate) const MAX_SYMBOLS: usize = 286;

/// Fills `lengths[i]` with the code length for symbol `i` given its count
/// `freqs[i]` (0 = unused, length 0), no length above `max_bits` (1..=15).
/// `freqs` and `lengths` must be equally long, at most [`MAX_SYMBOLS`], and
/// at least 2 long. Allocates nothing.
pub(crate) fn build_lengths(freqs: &[u32], max_bits: u32, lengths: &mut [u8]) {
    // Scratch sized to the alphabet: zeroing 286 entries for the 19 or 30
    // symbol alphabets would cost more than building their codes.
    match freqs.len().min(lengths.len()) {
        0..=32 => build_lengths_in::<32>(freqs, max_bits, lengths),
        _ => build_lengths_in::<MAX_SYMBOLS>(freqs, max_bits, lengths),
    }
}

/// [`build_lengths`] for an alphabet whose used symbols are already known:
/// `used` lists every symbol with a nonzero count, in increasing order, so
/// only those are visited (a 150-byte message uses a few dozen of the 286
/// literal/length symbols). The result is the same as [`build_lengths`]'s.
pub(crate) fn build_lengths_of_used(
    freqs: &[u32],
    used: &[u16],
    max_bits: u32,
    lengths: &mut [u8],
) {
    let n = freqs.len().min(lengths.len());
    let m = used.len();
    if !(2..=MAX_SYMBOLS).contains(&m) || used.iter().any(|&s| usize::from(s) >= n) {
        // The one-symbol rule gives a length to an unused symbol; and a
        // list that does not fit the alphabet is not trusted.
        return build_lengths(freqs, max_bits, lengths);
    }
    lengths.iter_mut().for_each(|l| *l = 0);
    // Scratch sized to what is used, as in `build_lengths`.
    match m {
        0..=64 => lengths_of_used_in::<64>(freqs, used, max_bits, lengths),
        _ => lengths_of_used_in::<MAX_SYMBOLS>(freqs, used, max_bits, lengths),
    }
}

/// [`build_lengths_of_used`] with scratch for `N` symbols, once checked.
fn lengths_of_used_in<const N: usize>(
    freqs: &[u32],
    used: &[u16],
    max_bits: u32,
    lengths: &mut [u8],
) {
    let m = used.len().min(N);
    let mut leaves = [0u64; N];
    for (leaf, &sym) in leaves.iter_mut().zip(used) {
        *leaf = u64::from(freqs[usize::from(sym)]) << 16 | u64::from(sym);
    }
    let mut syms = [0u16; N];
    lengths_of_leaves(&mut leaves[..m], &mut syms[..m], max_bits, lengths);
}

/// [`build_lengths`] with scratch for `N` symbols (at most `N` are used).
fn build_lengths_in<const N: usize>(freqs: &[u32], max_bits: u32, lengths: &mut [u8]) {
    let n = freqs.len().min(lengths.len()).min(N);
    lengths.iter_mut().for_each(|l| *l = 0);
    // The used symbols, each packed as `count << 16 | symbol` so that one
    // integer sort orders them by count, ties by symbol. Branch-free: every
    // symbol is written, and only the used ones advance `m`.
    let mut leaves = [0u64; N];
    let mut m = 0;
    for (sym, &f) in freqs[..n].iter().enumerate() {
        leaves[m] = u64::from(f) << 16 | sym as u64;
        m += usize::from(f > 0);
    }
    if m < 2 {
        // Zero or one symbol: two one-bit codes, the used symbol (if any)
        // and the first other one.
        let used = leaves[..m].first().map(|&key| (key & 0xffff) as usize);
        let other = if used == Some(0) { 1 } else { 0 };
        if n >= 2 {
            lengths[used.unwrap_or(1 - other)] = 1;
            lengths[other] = 1;
        }
        return;
    }
    let mut syms = [0u16; N];
    lengths_of_leaves(&mut leaves[..m], &mut syms[..m], max_bits, lengths);
}

/// The length-limited Huffman lengths of at least two used symbols, each
/// given in `leaves` as `count << 16 | symbol` in any order, written to
/// `lengths[symbol]` (whose other entries are left alone). `syms` is
/// scratch as long as `leaves`.
fn lengths_of_leaves(leaves: &mut [u64], syms: &mut [u16], max_bits: u32, lengths: &mut [u8]) {
    let m = leaves.len().min(syms.len());
    if m < 2 {
        return;
    }
    let max_bits = max_bits.clamp(1, 15);
    let leaves = &mut leaves[..m];
    // By increasing count (ties by symbol, so the result is deterministic).
    leaves.sort_unstable();

    // Huffman's algorithm in place (Moffat and Katajainen, "In-place
    // calculation of minimum-redundancy codes", 1995): the sorted leaves
    // and the internal nodes, made in increasing weight order, are two
    // queues in one array, so no tree is built and nothing else is zeroed.
    // Ties go to the leaf, as in the textbook two-queue method.
    for (s, &key) in syms.iter_mut().zip(leaves.iter()) {
        *s = (key & 0xffff) as u16;
        debug_assert!(key >> 16 > 0);
    }
    let a = leaves;
    for x in a.iter_mut() {
        *x >>= 16;
    }
    // Phase 1: a[next] becomes the weight of internal node `next`, and an
    // internal node's slot, once merged, the index of its parent.
    // Branch-free picks (the weights are data, so branches on them would
    // be mispredicted half the time): an exhausted queue weighs u64::MAX.
    a[0] += a[1];
    let (mut root, mut leaf) = (0, 2);
    for next in 1..m - 1 {
        let mut sum = 0;
        for _ in 0..2 {
            let w_leaf = a.get(leaf).copied().unwrap_or(u64::MAX);
            let w_root = if root < next { a[root] } else { u64::MAX };
            let take_root = w_root < w_leaf;
            sum += if take_root { w_root } else { w_leaf };
            a[root] = if take_root { next as u64 } else { a[root] };
            root += usize::from(take_root);
            leaf += usize::from(!take_root);
        }
        a[next] = sum;
    }
    // Phase 2: parent indices become internal node depths.
    a[m - 2] = 0;
    for next in (0..m.saturating_sub(2)).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    // Phase 3: internal depths become leaf depths; a[i] is the depth of the
    // i-th rarest symbol.
    let (mut avail, mut used, mut depth) = (1u64, 0u64, 0u64);
    let mut root = m as isize - 2;
    let mut next = m as isize - 1;
    while avail > 0 {
        while root >= 0 && a[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            a[next as usize] = depth;
            next -= 1;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }

    // Step 1: count codes per length, cutting the deep ones to max_bits.
    let mut count = [0u32; 16];
    for &d in a.iter() {
        count[(d as usize).min(max_bits as usize)] += 1;
    }
    let max = max_bits as usize;
    let full: u64 = 1 << max;
    let weight_of = |len: usize| -> u64 { 1 << (max - len) };
    let mut kraft: u64 = (1..=max).map(|l| u64::from(count[l]) * weight_of(l)).sum();
    // Step 2: too many short codes; lengthen the deepest one below max.
    while kraft > full {
        let Some(len) = (1..max).rev().find(|&l| count[l] > 0) else {
            break; // cannot happen: m <= 286 codes of length max always fit
        };
        count[len] -= 1;
        count[len + 1] += 1;
        kraft -= weight_of(len + 1);
    }
    // Step 3: code space left over; shorten the deepest code that fits.
    while kraft < full {
        let Some(len) = (2..=max)
            .rev()
            .find(|&l| count[l] > 0 && weight_of(l) <= full - kraft)
        else {
            break; // cannot happen, see the module docs
        };
        count[len] -= 1;
        count[len - 1] += 1;
        kraft += weight_of(len);
    }
    // Step 4: the longest codes to the rarest symbols.
    let mut rarest = syms[..m].iter();
    for len in (1..=max).rev() {
        for _ in 0..count[len] {
            if let Some(l) = rarest
                .next()
                .and_then(|&sym| lengths.get_mut(usize::from(sym)))
            {
                *l = len as u8;
            }
        }
    }
}

/// The canonical codes of section 3.2.2 for `lengths`, each stored
/// bit-reversed (so the LSB-first writer sends its most-significant bit
/// first, section 3.1.1), into `codes` (as long as `lengths`). Lengths must
/// be at most 15 and describe a prefix code.
pub(crate) fn canonical_codes(lengths: &[u8], codes: &mut [u16]) {
    // "1) Count the number of codes for each code length."
    let mut bl_count = [0u16; 16];
    for &l in lengths {
        bl_count[usize::from(l.min(15))] += 1;
    }
    let mut next_code = first_codes(bl_count);
    // "3) Assign numerical values to all codes, using consecutive values
    // for all codes of the same length."
    for (c, &l) in codes.iter_mut().zip(lengths) {
        *c = next_canonical(&mut next_code, l);
    }
}

/// [`canonical_codes`] visiting only the symbols in `used` (increasing
/// order), which must hold every symbol with a nonzero length; the codes of
/// the others are left alone.
pub(crate) fn canonical_codes_of_used(lengths: &[u8], used: &[u16], codes: &mut [u16]) {
    let length = |s: u16| lengths.get(usize::from(s)).copied().unwrap_or(0);
    let mut bl_count = [0u16; 16];
    for &s in used {
        bl_count[usize::from(length(s).min(15))] += 1;
    }
    let mut next_code = first_codes(bl_count);
    for &s in used {
        let code = next_canonical(&mut next_code, length(s));
        if let Some(c) = codes.get_mut(usize::from(s)) {
            *c = code;
        }
    }
}

/// "2) Find the numerical value of the smallest code for each code
/// length", from the number of codes of each length.
fn first_codes(mut bl_count: [u16; 16]) -> [u16; 16] {
    bl_count[0] = 0;
    let mut next_code = [0u16; 16];
    let mut code: u16 = 0;
    for bits in 1..16 {
        code = code.wrapping_add(bl_count[bits - 1]).wrapping_shl(1);
        next_code[bits] = code;
    }
    next_code
}

/// The next code of length `len` (0: none), bit-reversed for the writer.
fn next_canonical(next_code: &mut [u16; 16], len: u8) -> u16 {
    let l = usize::from(len.min(15));
    if l == 0 {
        return 0;
    }
    let code = next_code[l].reverse_bits() >> (16 - l);
    next_code[l] = next_code[l].wrapping_add(1);
    code
}

#[cfg(test)]
mod tests {
    use super::MAX_SYMBOLS;
    use super::{build_lengths, build_lengths_of_used, canonical_codes, canonical_codes_of_used};

    /// The two-queue Huffman construction this module used before the
    /// in-place one: both must give the same lengths.
    fn reference_lengths(freqs: &[u32], max_bits: u32, lengths: &mut [u8]) {
        let n = freqs.len().min(lengths.len()).min(MAX_SYMBOLS);
        let max_bits = max_bits.clamp(1, 15);
        lengths.iter_mut().for_each(|l| *l = 0);
        // The used symbols, by increasing count (ties by symbol, so the result
        // is deterministic), each packed as `count << 16 | symbol` so that one
        // integer sort orders them. Branch-free: every symbol is written, and
        // only the used ones advance `m`.
        let mut leaves = [0u64; MAX_SYMBOLS];
        let mut m = 0;
        for (sym, &f) in freqs[..n].iter().enumerate() {
            leaves[m] = u64::from(f) << 16 | sym as u64;
            m += usize::from(f > 0);
        }
        if m < 2 {
            // Zero or one symbol: two one-bit codes, the used symbol (if any)
            // and the first other one.
            let used = leaves[..m].first().map(|&key| (key & 0xffff) as usize);
            let other = if used == Some(0) { 1 } else { 0 };
            if n >= 2 {
                lengths[used.unwrap_or(1 - other)] = 1;
                lengths[other] = 1;
            }
            return;
        }
        let leaves = &mut leaves[..m];
        leaves.sort_unstable();

        // Huffman's algorithm with two queues: the sorted leaves, and the
        // internal nodes, which are made in increasing weight order. Node ids:
        // leaves 0..m, internal nodes m..2m-1 (the root is the last).
        let mut weight = [0u64; 2 * MAX_SYMBOLS];
        let mut parent = [0u16; 2 * MAX_SYMBOLS];
        for (i, &key) in leaves.iter().enumerate() {
            weight[i] = key >> 16;
        }
        let (mut next_leaf, mut next_internal) = (0, m);
        for made in m..2 * m - 1 {
            let mut pick = || {
                let take_leaf = next_leaf < m
                    && (next_internal >= made || weight[next_leaf] <= weight[next_internal]);
                if take_leaf {
                    next_leaf += 1;
                    next_leaf - 1
                } else {
                    next_internal += 1;
                    next_internal - 1
                }
            };
            let (a, b) = (pick(), pick());
            weight[made] = weight[a] + weight[b];
            parent[a] = made as u16;
            parent[b] = made as u16;
        }
        // Depths, from the root down (a parent is always made after its
        // children, so walking ids downwards visits parents first).
        let root = 2 * m - 2;
        let mut depth = [0u8; 2 * MAX_SYMBOLS];
        for node in (0..root).rev() {
            depth[node] = depth[usize::from(parent[node])].saturating_add(1);
        }

        // Step 1: count codes per length, cutting the deep ones to max_bits.
        let mut count = [0u32; 16];
        for &d in &depth[..m] {
            count[usize::from(d).min(max_bits as usize)] += 1;
        }
        let max = max_bits as usize;
        let full: u64 = 1 << max;
        let weight_of = |len: usize| -> u64 { 1 << (max - len) };
        let mut kraft: u64 = (1..=max).map(|l| u64::from(count[l]) * weight_of(l)).sum();
        // Step 2: too many short codes; lengthen the deepest one below max.
        while kraft > full {
            let Some(len) = (1..max).rev().find(|&l| count[l] > 0) else {
                break; // cannot happen: m <= 286 codes of length max always fit
            };
            count[len] -= 1;
            count[len + 1] += 1;
            kraft -= weight_of(len + 1);
        }
        // Step 3: code space left over; shorten the deepest code that fits.
        while kraft < full {
            let Some(len) = (2..=max)
                .rev()
                .find(|&l| count[l] > 0 && weight_of(l) <= full - kraft)
            else {
                break; // cannot happen, see the module docs
            };
            count[len] -= 1;
            count[len - 1] += 1;
            kraft += weight_of(len);
        }
        // Step 4: the longest codes to the rarest symbols.
        let mut rarest = leaves.iter();
        for len in (1..=max).rev() {
            for _ in 0..count[len] {
                if let Some(&key) = rarest.next() {
                    lengths[(key & 0xffff) as usize] = len as u8;
                }
            }
        }
    }

    #[test]
    fn in_place_huffman_from_all_counts_or_the_used_ones_equals_the_two_queue_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let n = [2, 3, 19, 30, 286][round % 5];
            let max = if n == 19 { 7 } else { 15 };
            let zeros = next() % 8;
            let skew = next() % 24;
            let freqs: Vec<u32> = (0..n)
                .map(|_| {
                    let r = next();
                    if r % 8 < zeros {
                        0
                    } else {
                        ((r >> 8) as u32 >> (r % 32).min(skew) as u32) & 0xff_ffff
                    }
                })
                .collect();
            let mut want = vec![0xff; n];
            reference_lengths(&freqs, max, &mut want);
            assert_eq!(lengths_of(&freqs, max), want, "{freqs:?}");
            // Given the used symbols, the sparse versions agree.
            let used: Vec<u16> = (0..n as u16)
                .filter(|&s| freqs[usize::from(s)] > 0)
                .collect();
            let mut sparse = vec![0xff; n];
            build_lengths_of_used(&freqs, &used, max, &mut sparse);
            assert_eq!(sparse, want, "{freqs:?}");
            let mut codes = vec![0u16; n];
            canonical_codes(&want, &mut codes);
            let mut sparse_codes = vec![0u16; n];
            // With fewer than two used symbols the code has an unused one.
            let with_length: Vec<u16> = (0..n as u16)
                .filter(|&s| want[usize::from(s)] > 0)
                .collect();
            canonical_codes_of_used(&want, &with_length, &mut sparse_codes);
            assert_eq!(sparse_codes, codes, "{want:?}");
        }
    }

    /// The Kraft sum in units of 2^-15.
    fn kraft(lengths: &[u8]) -> u64 {
        lengths
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (15 - l))
            .sum()
    }

    fn cost(freqs: &[u32], lengths: &[u8]) -> u64 {
        freqs
            .iter()
            .zip(lengths)
            .map(|(&f, &l)| u64::from(f) * u64::from(l))
            .sum()
    }

    fn lengths_of(freqs: &[u32], max: u32) -> Vec<u8> {
        let mut lengths = vec![0xff; freqs.len()];
        build_lengths(freqs, max, &mut lengths);
        lengths
    }

    #[test]
    fn textbook_distributions_get_the_huffman_lengths() {
        assert_eq!(lengths_of(&[1, 1, 2, 4, 8], 15), [4, 4, 3, 2, 1]);
        assert_eq!(lengths_of(&[5, 5, 5, 5], 15), [2, 2, 2, 2]);
        assert_eq!(lengths_of(&[0, 3, 0, 1, 1], 15), [0, 1, 0, 2, 2]);
        // 8 equal symbols: 3 bits each.
        assert_eq!(lengths_of(&[7; 8], 15), [3; 8]);
        // RFC 1951 section 3.2.2's example lengths (3,3,3,3,3,2,4,4) are
        // optimal for these counts.
        let freqs = [4, 4, 4, 4, 4, 8, 2, 2];
        assert_eq!(lengths_of(&freqs, 15), [3, 3, 3, 3, 3, 2, 4, 4]);
    }

    #[test]
    fn fewer_than_two_symbols_still_make_a_complete_code() {
        assert_eq!(lengths_of(&[0, 0, 0], 15), [1, 1, 0]);
        assert_eq!(lengths_of(&[0, 0, 9], 15), [1, 0, 1]);
        assert_eq!(lengths_of(&[9, 0, 0], 15), [1, 1, 0]);
        assert_eq!(kraft(&lengths_of(&[0; 30], 15)), 1 << 15);
    }

    #[test]
    fn fibonacci_counts_are_limited_and_stay_complete() {
        // Fibonacci counts make the deepest Huffman tree: n symbols give a
        // depth of n - 1 without a limit.
        let mut fib = vec![1u32, 1];
        while fib.len() < 30 {
            let n = fib.len();
            fib.push(fib[n - 1] + fib[n - 2]);
        }
        for max in [7, 9, 15] {
            let lengths = lengths_of(&fib, max);
            assert!(lengths.iter().all(|&l| (1..=max as u8).contains(&l)));
            assert_eq!(kraft(&lengths), 1 << 15, "max {max}: {lengths:?}");
        }
        // Unlimited (30 symbols need depth 29) versus 15: the limited code
        // costs a little more, never less than the true optimum.
        let free = lengths_of(&fib[..16], 15); // depth 15 fits: unchanged
        assert_eq!(free.iter().max(), Some(&15));
        assert_eq!(cost(&fib[..16], &free), {
            // Huffman cost of a Fibonacci tree: sum of internal weights.
            let mut c = 0u64;
            let mut acc = u64::from(fib[0]);
            for &f in &fib[1..16] {
                acc += u64::from(f);
                c += acc;
            }
            c
        });
    }

    #[test]
    fn random_counts_give_complete_limited_near_optimal_codes() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let n = [19, 30, 286][round % 3];
            let max = if n == 19 { 7 } else { 15 };
            let skew = next() % 24;
            let freqs: Vec<u32> = (0..n)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        0
                    } else {
                        ((r >> 8) as u32 >> (r % 32).min(skew) as u32) & 0xff_ffff
                    }
                })
                .collect();
            let lengths = lengths_of(&freqs, max);
            assert_eq!(kraft(&lengths), 1 << 15, "{freqs:?} -> {lengths:?}");
            for (&f, &l) in freqs.iter().zip(&lengths) {
                assert!(l as u32 <= max);
                if f > 0 {
                    assert!(l > 0, "a used symbol must get a code");
                }
            }
            // More frequent symbols never get longer codes.
            for i in 0..n {
                for j in 0..n {
                    if freqs[i] > freqs[j] && freqs[j] > 0 {
                        assert!(lengths[i] <= lengths[j]);
                    }
                }
            }
            // A loose bound that still catches a broken limiter: never
            // worse than a flat code over the used symbols.
            let used = freqs.iter().filter(|&&f| f > 0).count().max(2);
            let flat = (usize::BITS - (used - 1).leading_zeros()) as u64;
            let total: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
            assert!(cost(&freqs, &lengths) <= flat * total);
        }
    }

    #[test]
    fn canonical_codes_follow_section_3_2_2() {
        // The RFC's example: lengths (3, 3, 3, 3, 3, 2, 4, 4) for A..H give
        // codes 010 011 100 101 110 00 1110 1111.
        let lengths = [3, 3, 3, 3, 3, 2, 4, 4];
        let mut codes = [0u16; 8];
        canonical_codes(&lengths, &mut codes);
        let expected = [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111];
        for i in 0..8 {
            let l = u32::from(lengths[i]);
            let reversed = (expected[i] as u16).reverse_bits() >> (16 - l);
            assert_eq!(codes[i], reversed, "symbol {i}");
        }
    }

    #[test]
    fn fixed_literal_length_code_matches_section_3_2_6() {
        let mut lengths = [0u8; 288];
        lengths[..144].fill(8);
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        lengths[280..].fill(8);
        let mut codes = [0u16; 288];
        canonical_codes(&lengths, &mut codes);
        let unreversed = |s: usize| codes[s].reverse_bits() >> (16 - lengths[s]);
        assert_eq!(unreversed(0), 0b0011_0000);
        assert_eq!(unreversed(143), 0b1011_1111);
        assert_eq!(unreversed(144), 0b1_1001_0000);
        assert_eq!(unreversed(255), 0b1_1111_1111);
        assert_eq!(unreversed(256), 0);
        assert_eq!(unreversed(279), 0b001_0111);
        assert_eq!(unreversed(280), 0b1100_0000);
        assert_eq!(unreversed(287), 0b1100_0111);
    }
}
