//! Host integration tests (simulated Xen) live in tests/tests/.
