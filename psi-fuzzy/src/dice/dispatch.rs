//! The one place of this crate with `unsafe`: calling the popcount kernels
//! compiled for a CPU feature, after run-time detection has shown that the
//! CPU has it, and the AVX-512 kernel's unaligned vector loads. Everything
//! else in the crate is safe code (the crate denies `unsafe_code`; this
//! module alone allows it).
#![allow(unsafe_code)]

use super::Kernel;

/// The counting loop, inlined into each kernel so that each is compiled with
/// its own target features (with `avx512vpopcntdq` LLVM vectorises the
/// reduction into `VPOPCNTQ` on 512-bit registers).
#[inline(always)]
fn block(query: &[u64], rows: &[u64], out: &mut [u32]) {
    let words = query.len();
    if words == 16 {
        let q: &[u64; 16] = match query.try_into() {
            Ok(q) => q,
            Err(_) => return,
        };
        for (row, o) in rows.chunks_exact(16).zip(out.iter_mut()) {
            *o = q.iter().zip(row).map(|(a, b)| (a & b).count_ones()).sum();
        }
    } else {
        for (row, o) in rows.chunks_exact(words).zip(out.iter_mut()) {
            *o = query
                .iter()
                .zip(row)
                .map(|(a, b)| (a & b).count_ones())
                .sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn block_popcnt(query: &[u64], rows: &[u64], out: &mut [u32]) {
    block(query, rows, out)
}

/// `|query ∧ row|` with 512-bit `VPOPCNTQ`, for rows of a multiple of 8
/// words (LLVM's own vectorisation of [`block`] reduced each row badly:
/// slower than scalar `POPCNT`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx512f,avx512vpopcntdq")]
fn row_avx512(query: &[u64], row: &[u64]) -> u32 {
    use std::arch::x86_64::*;
    let mut sum = _mm512_setzero_si512();
    for (q, r) in query.chunks_exact(8).zip(row.chunks_exact(8)) {
        // SAFETY: `q` and `r` are 8 initialised `u64`s each (64 bytes), and
        // the loads are unaligned loads.
        let (q, r) = unsafe {
            (
                _mm512_loadu_si512(q.as_ptr().cast()),
                _mm512_loadu_si512(r.as_ptr().cast()),
            )
        };
        sum = _mm512_add_epi64(sum, _mm512_popcnt_epi64(_mm512_and_si512(q, r)));
    }
    _mm512_reduce_add_epi64(sum) as u32
}

/// Eight rows of 16 words (1,024 bits) at once: the eight per-row vectors
/// of lane counts are summed by a transposing reduction (three rounds of
/// shuffles and adds for all eight, instead of a full horizontal sum each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx512f,avx512vpopcntdq")]
fn eight_rows_1024(
    q0: std::arch::x86_64::__m512i,
    q1: std::arch::x86_64::__m512i,
    rows: &[u64; 128],
    out: &mut [u32; 8],
) {
    use std::arch::x86_64::*;
    let count = |k: usize| {
        // SAFETY: row k is words 16k..16k+16 of the 128-word array.
        let (r0, r1) = unsafe {
            (
                _mm512_loadu_si512(rows.as_ptr().add(16 * k).cast()),
                _mm512_loadu_si512(rows.as_ptr().add(16 * k + 8).cast()),
            )
        };
        _mm512_add_epi64(
            _mm512_popcnt_epi64(_mm512_and_si512(q0, r0)),
            _mm512_popcnt_epi64(_mm512_and_si512(q1, r1)),
        )
    };
    let pair = |x: __m512i, y: __m512i| {
        _mm512_add_epi64(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    };
    // Per 128-bit lane k: (row 2i part k, row 2i+1 part k).
    let a = pair(count(0), count(1));
    let b = pair(count(2), count(3));
    let c = pair(count(4), count(5));
    let d = pair(count(6), count(7));
    let fold = |x: __m512i, y: __m512i| {
        _mm512_add_epi64(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(x, y),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(x, y),
        )
    };
    let sums = fold(fold(a, b), fold(c, d));
    let narrow = _mm512_cvtepi64_epi32(sums);
    // SAFETY: `out` is 8 u32s (32 bytes), an unaligned store.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), narrow) };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx512f,avx512vpopcntdq")]
fn block_avx512(query: &[u64], rows: &[u64], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let words = query.len();
    if !words.is_multiple_of(8) {
        return block(query, rows, out);
    }
    let mut done = 0;
    if words == 16 {
        // SAFETY: the query is 16 words: two unaligned 64-byte loads.
        let (q0, q1) = unsafe {
            (
                _mm512_loadu_si512(query.as_ptr().cast()),
                _mm512_loadu_si512(query.as_ptr().add(8).cast()),
            )
        };
        for (eight, o) in rows.chunks_exact(128).zip(out.chunks_exact_mut(8)) {
            if let (Ok(eight), Ok(o)) = (eight.try_into(), o.try_into()) {
                eight_rows_1024(q0, q1, eight, o);
                done += 8;
            }
        }
    }
    for (row, o) in rows[done * words..]
        .chunks_exact(words)
        .zip(out[done..].iter_mut())
    {
        *o = row_avx512(query, row);
    }
}

pub(super) fn runs_here(kernel: Kernel) -> bool {
    match kernel {
        Kernel::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Kernel::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            std::arch::is_x86_feature_detected!("popcnt")
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => false,
    }
}

pub(super) fn detect() -> Kernel {
    [Kernel::Avx512, Kernel::Popcnt]
        .into_iter()
        .find(|k| runs_here(*k))
        .unwrap_or(Kernel::Portable)
}

pub(super) fn intersections(kernel: Kernel, query: &[u64], rows: &[u64], out: &mut [u32]) {
    match kernel {
        // SAFETY: the kernel's target features were detected on this CPU
        // (`runs_here`), which is all `#[target_feature]` requires.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if runs_here(Kernel::Avx512) => unsafe { block_avx512(query, rows, out) },
        // SAFETY: as above, for `popcnt`.
        #[cfg(target_arch = "x86_64")]
        Kernel::Popcnt if runs_here(Kernel::Popcnt) => unsafe { block_popcnt(query, rows, out) },
        _ => block(query, rows, out),
    }
}
