"""Evaluation of a trained model: test losses over a whole data source, and posterior codes.

Works on iterables of float image batches; knows no files or dataset formats.
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
