use crate::rule::*;

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![]
}
