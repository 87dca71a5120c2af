//! Work cut at item boundaries, for [`Team::try_for_each`](super::Team::try_for_each):
//! a mutable slice, chunks of a slice, a range of indices, or several of
//! them zipped as a pair.

use std::ops::Range;

/// Work cut at item boundaries.
pub(crate) trait Split: Sized + Send {
    type Item;
    /// How many items.
    fn len(&self) -> usize;
    /// The first `i ≤ len` items and the rest.
    fn split_at(self, i: usize) -> (Self, Self);
    /// The items in order.
    fn items(self) -> impl Iterator<Item = Self::Item>;
}

impl<'a, T: Send> Split for &'a mut [T] {
    type Item = &'a mut T;
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        self.split_at_mut(i)
    }
    fn items(self) -> impl Iterator<Item = &'a mut T> {
        self.iter_mut()
    }
}

/// Indices, to number the items of what it is zipped with.
impl Split for Range<usize> {
    type Item = usize;
    fn len(&self) -> usize {
        ExactSizeIterator::len(self)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let mid = self.start + i;
        (self.start..mid, mid..self.end)
    }
    fn items(self) -> impl Iterator<Item = usize> {
        self
    }
}

/// Two zipped: as many items as the shorter has.
impl<A: Split, B: Split> Split for (A, B) {
    type Item = (A::Item, B::Item);
    fn len(&self) -> usize {
        self.0.len().min(self.1.len())
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let ((a0, a1), (b0, b1)) = (self.0.split_at(i), self.1.split_at(i));
        ((a0, b0), (a1, b1))
    }
    fn items(self) -> impl Iterator<Item = Self::Item> {
        self.0.items().zip(self.1.items())
    }
}

/// A mutable slice in chunks of `size` (the last may be short), then empty
/// chunks up to `n` in all: [`padded`](Self::padded) stands an empty slice
/// in for an unused optimizer slot beside the parameters' chunks.
pub(crate) struct ChunksMut<'a, T> {
    s: &'a mut [T],
    size: usize,
    n: usize,
}

impl<'a, T> ChunksMut<'a, T> {
    /// The chunks of `s`, `size ≥ 1` values each.
    pub(crate) fn new(s: &'a mut [T], size: usize) -> Self {
        let size = size.max(1);
        ChunksMut { n: s.len().div_ceil(size), s, size }
    }

    /// `n` chunks: those of `s`, then empty ones.
    pub(crate) fn padded(s: &'a mut [T], size: usize, n: usize) -> Self {
        let c = ChunksMut::new(s, size);
        ChunksMut { n: n.max(c.n), ..c }
    }

    /// How many chunks.
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

impl<'a, T: Send> Split for ChunksMut<'a, T> {
    type Item = &'a mut [T];
    fn len(&self) -> usize {
        self.n
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let (l, r) = self.s.split_at_mut((i * self.size).min(self.s.len()));
        (ChunksMut { s: l, size: self.size, n: i }, ChunksMut { s: r, size: self.size, n: self.n - i })
    }
    fn items(self) -> impl Iterator<Item = &'a mut [T]> {
        let full = self.s.len().div_ceil(self.size);
        let empties = std::iter::repeat_with(|| -> &'a mut [T] { &mut [] }).take(self.n - full);
        self.s.chunks_mut(self.size).chain(empties)
    }
}

/// A slice in chunks of `size` (the last may be short), then empty chunks
/// up to `n` in all, as [`ChunksMut`].
pub(crate) struct Chunks<'a, T> {
    s: &'a [T],
    size: usize,
    n: usize,
}

impl<'a, T> Chunks<'a, T> {
    /// The chunks of `s`, `size ≥ 1` values each.
    pub(crate) fn new(s: &'a [T], size: usize) -> Self {
        let size = size.max(1);
        Chunks { n: s.len().div_ceil(size), s, size }
    }

    /// `n` chunks: those of `s`, then empty ones.
    pub(crate) fn padded(s: &'a [T], size: usize, n: usize) -> Self {
        let c = Chunks::new(s, size);
        Chunks { n: n.max(c.n), ..c }
    }
}

impl<'a, T: Sync> Split for Chunks<'a, T> {
    type Item = &'a [T];
    fn len(&self) -> usize {
        self.n
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let (l, r) = self.s.split_at((i * self.size).min(self.s.len()));
        (Chunks { s: l, size: self.size, n: i }, Chunks { s: r, size: self.size, n: self.n - i })
    }
    fn items(self) -> impl Iterator<Item = &'a [T]> {
        let full = self.s.len().div_ceil(self.size);
        let empties = std::iter::repeat_n(&[][..], self.n - full);
        self.s.chunks(self.size).chain(empties)
    }
}
