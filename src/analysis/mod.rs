//! Reading the model: what each head does ([`heads`]: scores, roles, knock-out cost) and where
//! the embeddings put each character and position ([`embedding_map`]). The model-side hooks
//! they use (head knock-out, the logit lens) live in [`crate::model`], in the one block code
//! path every forward shares.

pub mod embedding_map;
pub mod heads;
