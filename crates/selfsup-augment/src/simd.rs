//! Runs a function compiled for AVX2 when the CPU has it, and for the portable baseline
//! otherwise. The release binary targets plain x86-64 (SSE2), so the compiler vectorises the
//! view kernels 4 floats wide; with AVX2 the same code runs 8 wide. Rust never fuses a multiply
//! and an add on its own, so both versions compute the same floats.

/// `fn name(args) body` as a function that dispatches to an AVX2 build of `body` when the CPU
/// has AVX2.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn portable($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has just been found to have AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

pub(crate) use with_avx2;
