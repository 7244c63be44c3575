//! The one place of this crate with `unsafe`: calling the popcount kernels
//! compiled for a CPU feature, after run-time detection has shown that the
//! CPU has it. Everything else in the crate is safe code (the crate denies
//! `unsafe_code`; this module alone allows it).
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

#[inline(always)]
fn gather(query: &[u64], data: &[u64], ids: &[u32], out: &mut [u32]) {
    let words = query.len();
    for (&id, o) in ids.iter().zip(out.iter_mut()) {
        let start = id as usize * words;
        *o = match data.get(start..start + words) {
            Some(row) => query
                .iter()
                .zip(row)
                .map(|(a, b)| (a & b).count_ones())
                .sum(),
            None => 0,
        };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn block_popcnt(query: &[u64], rows: &[u64], out: &mut [u32]) {
    block(query, rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn gather_popcnt(query: &[u64], data: &[u64], ids: &[u32], out: &mut [u32]) {
    gather(query, data, ids, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx512f,avx512vpopcntdq")]
fn block_avx512(query: &[u64], rows: &[u64], out: &mut [u32]) {
    block(query, rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx512f,avx512vpopcntdq")]
fn gather_avx512(query: &[u64], data: &[u64], ids: &[u32], out: &mut [u32]) {
    gather(query, data, ids, out)
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

pub(super) fn intersections_at(
    kernel: Kernel,
    query: &[u64],
    data: &[u64],
    ids: &[u32],
    out: &mut [u32],
) {
    match kernel {
        // SAFETY: the kernel's target features were detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if runs_here(Kernel::Avx512) => unsafe {
            gather_avx512(query, data, ids, out)
        },
        // SAFETY: as above, for `popcnt`.
        #[cfg(target_arch = "x86_64")]
        Kernel::Popcnt if runs_here(Kernel::Popcnt) => unsafe {
            gather_popcnt(query, data, ids, out)
        },
        _ => gather(query, data, ids, out),
    }
}
