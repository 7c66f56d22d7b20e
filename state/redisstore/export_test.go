package redisstore

// RedisKey exposes the Redis key of a policy key, for tests.
func (s *Store) RedisKey(key, suffix string) (string, error) {
	for k, sfx := range kindSuffix {
		if sfx == suffix {
			return s.key(key, kind(k))
		}
	}
	panic("unknown kind " + suffix)
}
