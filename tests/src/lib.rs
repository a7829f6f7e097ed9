//! Integration and ZDTM-style checkpoint/restore tests
