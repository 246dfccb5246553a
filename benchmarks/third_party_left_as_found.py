"""Models nobody here wrote, left as found: MONAI's DynUNet and timm's coat_lite_tiny.

Both register a submodule under two paths; ``torch.func.functional_call``
left meta tensors in one of them after a meta profile, and the model's next
forward raised. This profiles each (built from code, nothing downloaded),
compares every parameter and buffer slot of every module path before and
after, and runs the model again. Needs ``pip install timm monai`` (not a
dependency of anything here)::

    python benchmarks/third_party_left_as_found.py
"""
import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "tests"))
from zoo_models import import_torchvision
import_torchvision()
import torch, timm
from monai.networks.nets import DynUNet
from pytest_convbudget import profile

def slots(model):
    return {f"{p}.{n}" if p else n: (id(t), t.device) for p, m in model.named_modules(remove_duplicate=False)
            for tab in ("_parameters", "_buffers") for n, t in getattr(m, tab).items() if t is not None}

models = {
    "DynUNet": (DynUNet(2, 1, 2, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2]), torch.randn(1, 1, 64, 64)),
    "coat_lite_tiny": (timm.create_model("coat_lite_tiny", pretrained=False), torch.randn(1, 3, 224, 224)),
}
for name, (model, x) in models.items():
    model.eval()
    before = slots(model)
    cost = profile(model, x, count="all")
    after = slots(model)
    moved = [k for k in before if before[k] != after.get(k)]
    print(f"{name}: device {cost.device}, {len(before)} slots, {len(moved)} not as found, FLOPs {cost.flops:,}")
    model(x)
    print(f"{name}: next forward ok")
