//! `iomem` and `ioports`: the resource trees, laid out like Linux's
//! /proc/iomem and /proc/ioports (two spaces of indent per level).

use alloc::string::String;

use super::commands::no_args;
use crate::println;
use crate::resource::{Kind, Tree, IOMEM, IOPORTS};

fn print_tree(tree: &Tree) {
    let width = match tree.kind() {
        Kind::Memory => 8,
        Kind::Io => 4,
    };
    tree.walk(|depth, name, start, end| {
        println!("{:indent$}{start:0width$x}-{end:0width$x} : {name}", "", indent = depth * 2);
    });
}

pub fn iomem(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    print_tree(&IOMEM);
    Ok(())
}

pub fn ioports(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    print_tree(&IOPORTS);
    Ok(())
}
