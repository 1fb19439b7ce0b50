//! In-kernel tests: a registry in a linker section, run from the boot path.
//!
//! `ktest! { fn name() { … } }` defines a test function and places a
//! [`KTest`] record in the `.ktests` section (the linker script brackets it
//! with `__ktests_start`/`__ktests_end`), so tests live next to the code
//! they test and nothing has to list them. Booting with `ktest` on the
//! command line runs them all (or `ktest=<substring>` a subset), prints one
//! line per test and leaves QEMU through isa-debug-exit (docs/testing.md).

pub mod util;

use alloc::string::String;

use crate::arch::exit::{qemu_exit, ExitCode};

pub type TestResult = Result<(), String>;

#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// Defines an in-kernel test. The body returns `TestResult`; use
/// [`check!`](crate::check) and [`check_eq!`](crate::check_eq) inside.
#[macro_export]
macro_rules! ktest {
    ($(fn $name:ident() $body:block)*) => {
        $(
            fn $name() -> $crate::ktest::TestResult {
                $body
                #[allow(unreachable_code)]
                Ok(())
            }
            const _: () = {
                #[used]
                #[link_section = ".ktests"]
                static ENTRY: $crate::ktest::KTest =
                    $crate::ktest::KTest { name: concat!(module_path!(), "::", stringify!($name)), run: $name };
            };
        )*
    };
}

/// Fails the test with a message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(alloc::format!("check failed: {} (line {})", stringify!($cond), line!()));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(alloc::format!("{} (line {})", alloc::format!($($fmt)+), line!()));
        }
    };
}

/// Fails the test unless both sides are equal, showing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(alloc::format!(
                "{} == {} failed: {:?} != {:?} (line {})",
                stringify!($left),
                stringify!($right),
                l,
                r,
                line!()
            ));
        }
    }};
}

fn registry() -> &'static [KTest] {
    // Linker-script symbols, never called: the FFI lint does not apply.
    #[allow(improper_ctypes)]
    extern "C" {
        static __ktests_start: KTest;
        static __ktests_end: KTest;
    }
    // SAFETY: the linker script brackets `.ktests`, which holds only `KTest`
    // records placed by the `ktest!` macro, 8-aligned.
    unsafe {
        let start = core::ptr::addr_of!(__ktests_start);
        let end = core::ptr::addr_of!(__ktests_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

/// A test's display name: its module path without the crate and `ktests` parts.
fn display_name(name: &str) -> String {
    let name = name.strip_prefix("ioxide_kernel::").unwrap_or(name);
    name.replace("::ktests::", "::")
}

/// Runs the tests whose name contains `filter`, then exits QEMU.
pub fn run_all(filter: &str) -> ! {
    let (mut passed, mut failed) = (0, 0);
    for test in registry() {
        let name = display_name(test.name);
        if !name.contains(filter) {
            continue;
        }
        match (test.run)() {
            Ok(()) => {
                passed += 1;
                crate::println!("ktest: {name} ... ok");
            }
            Err(why) => {
                failed += 1;
                crate::println!("ktest: {name} ... FAILED ({why})");
            }
        }
    }
    crate::println!("ktest: done, {passed} passed, {failed} failed");
    qemu_exit(if failed == 0 { ExitCode::Success } else { ExitCode::Failure })
}
