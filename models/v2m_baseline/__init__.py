"""The direct-regression baseline for motion capture: frames in, SMPL parameters out, trained
on the windows of the token shards UniMo trains on (`jobs/train.py --stage v2m_baseline`)."""
