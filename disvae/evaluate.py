"""Evaluation of a trained model: test losses over a whole data source, and posterior codes.

Works on iterables of float image batches, or on datasets with len() and batch(indices);
knows no files or dataset formats.
"""
import torch
from tqdm import tqdm


@torch.no_grad()
def compute_test_losses(model, loss_f, batches, device="cpu", is_progress_bar=True, total=None):
    """Mean of every logged loss term over all batches, weighted by batch size.

    The codes are sampled as in training (the model has no dropout or batch norm, so training
    mode only switches the reparameterisation on), so the estimators of the beta-TCVAE and
    FactorVAE terms see the same kind of codes they were trained on; the regulariser is taken
    fully annealed.
    """
    was_training = model.training
    model.train()
    sums, n_items = None, 0
    for data in tqdm(batches, total=total, desc="Test losses", leave=False,
                     disable=not is_progress_bar):
        values = loss_f.eval_terms(model, data.to(device)) * len(data)
        sums = values if sums is None else sums + values
        n_items += len(data)
    model.train(was_training)
    if n_items == 0:
        raise ValueError("the test set gave no batch: check that the dataset is not empty")
    return dict(zip(loss_f.names, (sums / n_items).tolist()))


def evaluation_chunks(order, batch_size, min_batch=1):
    """Split an order of indices into batches of batch_size for evaluation, every index
    counted once: a last batch smaller than min_batch (an estimator that compares each image
    with the others needs two) is merged into the one before it. Returns a list of index
    tensors."""
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) < min_batch:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    if not chunks or len(chunks[-1]) < min_batch:
        raise ValueError(f"evaluation needs at least {min_batch} images, the data has "
                         f"{len(order)}")
    return chunks


def random_order_test_losses(model, loss_f, dataset, batch_size, seed, device="cpu",
                             is_progress_bar=True):
    """Test losses over every image of dataset, in batches drawn in a seeded random order.

    Minibatch estimators (beta-TCVAE's MI/TC/DWKL, FactorVAE's TC) compare the codes within a
    batch, so their value depends on what a batch holds: in file order a batch of dSprites
    holds one shape, scale and orientation, which biases them. A random order makes every batch
    a sample of the whole data set. The seed fixes the order and the sampled codes, so the
    losses repeat exactly.
    """
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(dataset), generator=generator).to(dataset.device)
    chunks = evaluation_chunks(order, batch_size, loss_f.min_batch_size)
    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the sampled codes repeat; callers unaffected
        torch.manual_seed(int(seed))
        return compute_test_losses(model, loss_f, map(dataset.batch, chunks), device,
                                   is_progress_bar, len(chunks))


@torch.no_grad()
def encode_posterior(model, batches, device="cpu", is_progress_bar=True, total=None):
    """Posterior parameters (mean, logvar) of every image, as two (N, D) float32 CPU tensors.

    The codes stay on the device until the end: one transfer, no wait per batch on a GPU.
    """
    means, logvars = [], []
    for data in tqdm(batches, total=total, desc="Encoding", leave=False,
                     disable=not is_progress_bar):
        mean, logvar = model.encoder(data.to(device))
        means.append(mean.float())
        logvars.append(logvar.float())
    return torch.cat(means).cpu(), torch.cat(logvars).cpu()
