//! Reading a paged listing whole, for any store that lists a page at a time.

/// Every item of a paged listing: `page(after, limit)` from the start, then after the key of
/// each page's last item, until a page comes back short of `limit`.
pub async fn read_all_pages<T, K, E, Fut>(
    limit: usize,
    key_of: impl Fn(&T) -> K,
    mut page: impl FnMut(Option<K>, usize) -> Fut,
) -> Result<Vec<T>, E>
where
    Fut: std::future::Future<Output = Result<Vec<T>, E>>,
{
    let mut all: Vec<T> = Vec::new();
    loop {
        let items = page(all.last().map(&key_of), limit).await?;
        let done = items.len() < limit;
        all.extend(items);
        if done {
            return Ok(all);
        }
    }
}
