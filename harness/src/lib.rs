//! The CRIB checkpoint/restore engine: engines, image files, restore
