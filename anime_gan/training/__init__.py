"""Training: the loops and the parts they share, all of them fed built objects (``anime_gan.experiment`` builds them).

- ``loop``: ``TrainingLoop``, what every kind of training shares (counters in
  images drawn, loss log with NaN stop, atomic checkpoints, exact resumption,
  progress bar, summary);
- ``gan_trainer``: ``Trainer``, one G against one D, for every GAN family;
- ``cycle_trainer``: ``CycleTrainer``, G, F, D_X and D_Y of an unpaired translator;
- ``growth``: progressive growing as a function of images shown (StyleGAN);
- ``ema``, ``memory``, ``image_pool``, ``sources``, ``stream``: EMA generators,
  BaMSGAN's memory bank, CycleGAN's pool of past fakes, extra fake sources,
  the seeded real-image order;
- ``checkpoint``, ``run_log``: atomic files and RNG states, the loss log and grids;
- ``speed``: bf16 / channels_last / compile resolved per device, and autocast;
- ``distributed``: torchrun and DistributedDataParallel.
"""
