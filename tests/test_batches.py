"""Batches drawn by indexing uint8 tensors: order, shares across processes, small last batch."""
import torch

from utils.datasets import ImageDataset, epoch_permutation, iterate_batches, n_batches


def counting_dataset(n_items):
    """Image i is filled with the value i, so batches reveal which indices they hold."""
    images = torch.arange(n_items, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return ImageDataset("counting", images.contiguous(), scale=1.0, background_color=0,
                        source="test")


def indices_of(batch):
    return batch[:, 0, 0, 0].long().tolist()


def test_every_image_once_per_epoch_in_the_epoch_order():
    data = counting_dataset(50)
    order = epoch_permutation(50, seed=3, epoch=1)
    seen = [i for batch in iterate_batches(data, 8, order) for i in indices_of(batch)]
    assert seen == order.tolist()
    assert n_batches(50, 8) == len(list(iterate_batches(data, 8, order))) == 7


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_permutation(30, 1, 2), epoch_permutation(30, 1, 2))
    assert not torch.equal(epoch_permutation(30, 1, 2), epoch_permutation(30, 1, 3))


def test_processes_share_each_batch_without_overlap():
    data = counting_dataset(40)
    shares = [[i for b in iterate_batches(data, 4, None, 0, rank, 2) for i in indices_of(b)]
              for rank in range(2)]
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == list(range(40))


def test_last_batch_too_small_for_the_loss_is_dropped():
    data = counting_dataset(35)
    sizes = [len(b) for b in iterate_batches(data, 16, min_batch=4)]
    assert sizes == [16, 16]
    assert n_batches(35, 16, min_batch=4) == 2
    assert [len(b) for b in iterate_batches(data, 16)] == [16, 16, 3]
    assert n_batches(35, 16) == 3
