//! Real proxy servers started per test on loopback (filled in below).
